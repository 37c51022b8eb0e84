/**
 * api_03 in zipkin-js: the last service in the chain. It does one unit of
 * work (a sleep of WORK_MS milliseconds, default 100, 0 allowed) in a local
 * `work` span, so the waterfall shows a duration.
 *
 * Run: `node api_03.js` (settings in README.md).
 */

'use strict';

const {Service, envInt} = require('./common');

const service = new Service('api_03', 5003);
const WORK_MS = envInt('WORK_MS', 100);

service.route('/', async () => {
  const reply = service.reply('api_03 did its work');
  await service.work(WORK_MS);
  reply.body.work_ms = WORK_MS;
  return reply;
});

service.serve();
