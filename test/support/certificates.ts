// A throwaway PKI for TLS tests, made with the openssl command: a CA and leaf certificates signed by it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface Leaf {
  key: string;
  cert: string;
}

export interface TestPki {
  dir: string;
  caPath: string;
  caPem: string;
  /** A leaf for `names` (the first is the CN; an address is an IP name), valid now for `days` (30), or expired when `isExpired`. */
  issue(names: string[], options?: { isExpired?: boolean; days?: number; isClientToo?: boolean }): Leaf;
  /** A self-signed leaf that no CA vouches for. */
  selfSigned(name: string): Leaf;
  /**
   * A current leaf for `names` issued by an intermediate CA that expired in 2020 (itself issued by the CA): `cert`
   * holds the leaf and then the intermediate, as a server sends its chain.
   */
  issueUnderExpiredIntermediate(names: string[]): Leaf;
  remove(): void;
}

/** `openssl req` arguments for a fresh P-256 key written unencrypted to `keyFile`. */
const newEcKey = (keyFile: string) => [
  '-newkey',
  'ec',
  '-pkeyopt',
  'ec_paramgen_curve:prime256v1',
  '-nodes',
  '-keyout',
  keyFile,
];

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function createPki(): TestPki {
  const dir = mkdtempSync(path.join(tmpdir(), 'reach-pki-'));
  writeFileSync(path.join(dir, 'index.txt'), '');
  writeFileSync(path.join(dir, 'serial'), '1000\n');
  writeFileSync(
    path.join(dir, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = lab',
      '[lab]',
      `dir = ${dir}`,
      'database = $dir/index.txt',
      'serial = $dir/serial',
      'new_certs_dir = $dir',
      'certificate = $dir/ca.pem',
      'private_key = $dir/ca.key',
      'default_md = sha256',
      'policy = anything',
      'copy_extensions = copy',
      'unique_subject = no',
      'x509_extensions = leaf',
      '[anything]',
      'commonName = supplied',
      '[leaf]',
      'basicConstraints = CA:FALSE',
      'keyUsage = digitalSignature, keyEncipherment',
      'extendedKeyUsage = serverAuth',
      '[intermediate]',
      'basicConstraints = critical,CA:TRUE',
      'keyUsage = critical,keyCertSign,cRLSign',
      '[peer]',
      'basicConstraints = CA:FALSE',
      'keyUsage = digitalSignature, keyEncipherment',
      'extendedKeyUsage = serverAuth, clientAuth',
      '',
    ].join('\n'),
  );
  openssl(
    [
      'req',
      '-x509',
      ...newEcKey('ca.key'),
      '-out',
      'ca.pem',
      '-days',
      '30',
      '-subj',
      '/CN=reach test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  let serial = 0;
  const leafFiles = (name: string) => {
    serial++;
    const base = `${name.replace(/[^a-z0-9.-]/gi, '_')}-${serial}`;
    return { key: `${base}.key`, csr: `${base}.csr`, cert: `${base}.pem` };
  };
  const newKeyAndCsr = (names: string[], files: ReturnType<typeof leafFiles>) =>
    openssl(
      [
        'req',
        ...newEcKey(files.key),
        '-out',
        files.csr,
        '-subj',
        `/CN=${names[0]}`,
        '-addext',
        `subjectAltName=${names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',')}`,
      ],
      dir,
    );
  const read = (files: ReturnType<typeof leafFiles>): Leaf => ({
    key: readFileSync(path.join(dir, files.key), 'utf8'),
    cert: readFileSync(path.join(dir, files.cert), 'utf8'),
  });
  return {
    dir,
    caPath: path.join(dir, 'ca.pem'),
    caPem: readFileSync(path.join(dir, 'ca.pem'), 'utf8'),
    issue(names, options = {}) {
      const files = leafFiles(names[0] ?? 'leaf');
      newKeyAndCsr(names, files);
      const validity = options.isExpired
        ? ['-startdate', '20200101000000Z', '-enddate', '20200201000000Z']
        : ['-days', String(options.days ?? 30)];
      openssl(
        [
          'ca',
          '-batch',
          '-config',
          'ca.cnf',
          // A peer (a Redis Cluster node on its bus) is a TLS client of the others too.
          ...(options.isClientToo ? ['-extensions', 'peer'] : []),
          '-in',
          files.csr,
          '-out',
          files.cert,
          '-notext',
          ...validity,
        ],
        dir,
      );
      return read(files);
    },
    selfSigned(name) {
      const files = leafFiles(name);
      openssl(
        [
          'req',
          '-x509',
          ...newEcKey(files.key),
          '-out',
          files.cert,
          '-days',
          '30',
          '-subj',
          `/CN=${name}`,
          '-addext',
          `subjectAltName=DNS:${name}`,
        ],
        dir,
      );
      return read(files);
    },
    issueUnderExpiredIntermediate(names) {
      const intermediate = leafFiles('intermediate');
      openssl(
        [
          'req',
          ...newEcKey(intermediate.key),
          '-out',
          intermediate.csr,
          '-subj',
          '/CN=reach test intermediate',
        ],
        dir,
      );
      openssl(
        [
          'ca',
          '-batch',
          '-config',
          'ca.cnf',
          '-extensions',
          'intermediate',
          '-in',
          intermediate.csr,
          '-out',
          intermediate.cert,
          '-notext',
          '-startdate',
          '20200101000000Z',
          '-enddate',
          '20200201000000Z',
        ],
        dir,
      );
      const files = leafFiles(names[0] ?? 'leaf');
      newKeyAndCsr(names, files);
      const extensions = `${files.key}.ext`;
      writeFileSync(
        path.join(dir, extensions),
        `basicConstraints=CA:FALSE\nsubjectAltName=${names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',')}\n`,
      );
      openssl(
        [
          'x509',
          '-req',
          '-in',
          files.csr,
          '-CA',
          intermediate.cert,
          '-CAkey',
          intermediate.key,
          '-set_serial',
          String(5000 + serial),
          '-days',
          '30',
          '-extfile',
          extensions,
          '-out',
          files.cert,
        ],
        dir,
      );
      const leaf = read(files);
      return { key: leaf.key, cert: leaf.cert + readFileSync(path.join(dir, intermediate.cert), 'utf8') };
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
