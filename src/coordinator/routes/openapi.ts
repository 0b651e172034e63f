// GET /openapi.json: the OpenAPI document, generated from the route schemas (docs/openapi.json
// is the same document, checked in; a test keeps the two equal).
import type { FastifyPluginAsync } from 'fastify';

export const openapiRoutes: FastifyPluginAsync = async (app) => {
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
};
