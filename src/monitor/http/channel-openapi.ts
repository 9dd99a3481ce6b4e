// The channel paths of the OpenAPI document (admin key), with the zod schemas behind their components.
import {
  type JsonObject,
  type OpenApiFragment,
  problemResponse as problem,
  componentRef as ref,
} from '../../requests/openapi.js';
import { channelInputSchema } from '../alerting/channel-settings.js';
import { channelOutputSchema, channelPatchSchema, channelTestOutputSchema } from './channel-routes.js';

const json = (schema: JsonObject) => ({ 'application/json': { schema } });
const idParameter = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', format: 'uuid' },
  description: 'The channel id returned by POST /channels.',
};

function channelPaths(security: unknown[]): Record<string, JsonObject> {
  const common = {
    '401': problem('Missing or wrong admin key.'),
    '429': problem('Rate limit reached; see Retry-After.'),
    '503': problem('Redis unreachable; see Retry-After.'),
  };
  return {
    '/channels': {
      post: {
        summary: 'Create a notification channel (admin key)',
        security,
        requestBody: { required: true, content: json(ref('ChannelInput')) },
        responses: {
          '201': { description: 'Created; secrets masked.', content: json(ref('Channel')) },
          '400': problem('Invalid field (named in `field`), unknown field or type, malformed JSON.'),
          '415': problem('Body not sent as application/json.'),
          '422': problem('The destination is not an allowed address.'),
          ...common,
        },
      },
      get: {
        summary: 'List notification channels (admin key), secrets masked',
        security,
        responses: {
          '200': {
            description: 'All channels.',
            content: json({
              type: 'object',
              properties: { channels: { type: 'array', items: ref('Channel') } },
            }),
          },
          ...common,
        },
      },
    },
    '/channels/{id}': {
      get: {
        summary: 'A notification channel (admin key), secrets masked',
        security,
        parameters: [idParameter],
        responses: {
          '200': { description: 'The channel.', content: json(ref('Channel')) },
          '404': problem('Unknown id.'),
          ...common,
        },
      },
      patch: {
        summary: 'Change a channel: name, or settings merged into the stored ones (admin key)',
        security,
        parameters: [idParameter],
        requestBody: { required: true, content: json(ref('ChannelPatch')) },
        responses: {
          '200': { description: 'The updated channel.', content: json(ref('Channel')) },
          '400': problem('Invalid field.'),
          '404': problem('Unknown id.'),
          '409': problem('The channel comes from CHANNELS_FILE (`origin: configuration`): edit the file.'),
          '422': problem('The destination is not an allowed address.'),
          ...common,
        },
      },
      delete: {
        summary: 'Delete a channel no monitor sends to (admin key)',
        security,
        parameters: [idParameter],
        responses: {
          '204': { description: 'Deleted.' },
          '404': problem('Unknown id.'),
          '409': problem(
            'Monitors still send to it (listed in `monitors`), or it comes from CHANNELS_FILE (`origin: configuration`).',
          ),
          ...common,
        },
      },
    },
    '/channels/{id}/test': {
      post: {
        summary: 'Send a test message through the channel now (admin key)',
        security,
        parameters: [idParameter],
        responses: {
          '200': { description: 'The provider took the message.', content: json(ref('ChannelTestResult')) },
          '404': problem('Unknown id.'),
          '422': problem('The destination is not an allowed address.'),
          '502': problem(
            'The provider did not take it: `detail` gives its answer, `outcome` is retry (a later try may work; Retry-After when it said) or rejected.',
          ),
          ...common,
        },
      },
    },
  };
}

/** What the channels add to the document. */
export const channelOpenApi: OpenApiFragment = {
  components: {
    ChannelInput: channelInputSchema,
    ChannelPatch: channelPatchSchema,
    Channel: channelOutputSchema,
    ChannelTestResult: channelTestOutputSchema,
  },
  paths: channelPaths,
};
