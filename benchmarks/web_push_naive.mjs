// The Node.js `web-push` library sending the same messages as benchmarks/push_fanout.py.
//
//   node benchmarks/web_push_naive.mjs <jobs.json> [concurrency]
//
// jobs.json: {"vapid": {"subject", "publicKey", "privateKey"}, "ttl", "messages": [
//   {"subscription": {"endpoint", "keys": {"p256dh", "auth"}}, "payload": "<json>"}, ...]}
// concurrency 1 is the naive loop (await each send); more keeps that many in flight.
// Prints one JSON line: {"sent", "failed", "seconds"}.
import { readFileSync } from "node:fs";
import https from "node:https";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const webpush = require("web-push");

const [jobsFile, concurrencyArg] = process.argv.slice(2);
const jobs = JSON.parse(readFileSync(jobsFile, "utf8"));
const concurrency = Number(concurrencyArg || 1);
const agent = new https.Agent({ keepAlive: true, maxSockets: Math.max(concurrency, 1) });
const options = {
  vapidDetails: jobs.vapid,
  TTL: jobs.ttl,
  urgency: "normal",
  topic: "daily_reminder",
  contentEncoding: "aes128gcm",
  timeout: 10000,
  agent,
};

let sent = 0;
let failed = 0;
let next = 0;

async function lane() {
  while (next < jobs.messages.length) {
    const message = jobs.messages[next++];
    try {
      await webpush.sendNotification(message.subscription, message.payload, options);
      sent += 1;
    } catch (error) {
      failed += 1;
      if (failed <= 3) console.error(String(error.statusCode || ""), String(error.body || error));
    }
  }
}

const start = process.hrtime.bigint();
await Promise.all(Array.from({ length: concurrency }, lane));
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
agent.destroy();
console.log(JSON.stringify({ sent, failed, seconds }));
