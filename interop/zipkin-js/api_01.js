/**
 * api_01 in zipkin-js: the front door. It calls api_02, then api_03 (one
 * after the other, as the original demo does), and answers with both
 * answers and the trace id.
 *
 * Run: `node api_01.js` (settings in README.md).
 */

'use strict';

const {Service, envUrl} = require('./common');

const service = new Service('api_01', 5001);
const API_02_URL = envUrl('API_02_URL', 'http://localhost:5002');
const API_03_URL = envUrl('API_03_URL', 'http://localhost:5003');

service.route('/', async () => {
  const reply = service.reply('api_01 called api_02 and api_03');
  await service.call(reply, 'api_02', API_02_URL);
  await service.call(reply, 'api_03', API_03_URL);
  return reply;
});

service.serve();
