/**
 * api_02 in zipkin-js: the middle service. It calls api_03 and answers with
 * what api_03 said.
 *
 * Run: `node api_02.js` (settings in README.md).
 */

'use strict';

const {Service, envUrl} = require('./common');

const service = new Service('api_02', 5002);
const API_03_URL = envUrl('API_03_URL', 'http://localhost:5003');

service.route('/', async () => {
  const reply = service.reply('api_02 called api_03');
  await service.call(reply, 'api_03', API_03_URL);
  return reply;
});

service.serve();
