// Start PLC + PDS + Bsky AppView (+ ozone) on 127.0.0.1, like `@atproto/dev-env`'s bin but
// without mock seed data (the project's copy of ../shared/peers/bluesky/start-full.mjs).
// Needs DB_POSTGRES_URL and REDIS_HOST in the environment; up.sh sets them.
// usage: node start-full.mjs [plcPort=2582] [pdsPort=2583] [bskyPort=2584] [ozonePort=2587]
import net from 'node:net'
import dns from 'node:dns'
dns.setDefaultResultOrder('ipv4first')
const origListen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && typeof args[1] !== 'string') args.splice(1, 0, '127.0.0.1')
  else if (args[0] && typeof args[0] === 'object' && args[0].port !== undefined && !args[0].host) args[0] = { ...args[0], host: '127.0.0.1' }
  return origListen.apply(this, args)
}
const t0 = Date.now()
const { TestNetwork } = await import('@atproto/dev-env')
const [plcPort, pdsPort, bskyPort, ozonePort] = [2582, 2583, 2584, 2587].map((d, i) => Number(process.argv[2 + i] || d))
const network = await TestNetwork.create({
  dbPostgresSchema: process.env.DB_POSTGRES_SCHEMA || "aggtest",
  plc: { port: plcPort },
  pds: { port: pdsPort, hostname: 'localhost', enableDidDocWithSession: true },
  bsky: { port: bskyPort, publicUrl: `http://localhost:${bskyPort}` },
  ozone: { port: ozonePort },
})
console.log(JSON.stringify({
  ready: true, ms: Date.now() - t0,
  plc: network.plc.url, pds: network.pds.url, bsky: network.bsky.url, ozone: network.ozone.url,
  bskyDid: network.bsky.serverDid,
}))
const stop = async () => { try { await network.close() } finally { process.exit(0) } }
process.on('SIGTERM', stop); process.on('SIGINT', stop)
