// A registry 'far away', for the lock benchmark: a reverse proxy on loopback that holds every
// request DELAY ms before passing it on (and so adds DELAY to each round trip, as a registry
// across a WAN would). Prints its port, then serves until killed.
//   node scripts/bench/delay-proxy.mjs <upstream port> <delay ms>
import http from 'node:http';

const [upstreamPort, delayMs] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true });
const server = http.createServer((req, res) => {
  setTimeout(() => {
    const up = http.request({ host: '127.0.0.1', port: upstreamPort, path: req.url, method: req.method, headers: req.headers, agent }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  }, delayMs);
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
