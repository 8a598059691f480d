/**
 * The embedded database belongs to one process. While `palmid serve` holds it, other `palmid`
 * commands send their arguments over a Unix socket in the data folder (mode 0600, same user
 * only) and the server runs them on its own connection, sending back the output and exit status.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from '../log.js';
import { ioStorage } from './output.js';

export const SOCKET_NAME = 'palmid.sock';
// `card` and `pin` read a secret from this process's standard input, which the server cannot see.
const NOT_DELEGABLE = new Set(['serve', 'migrate', 'card', 'pin']);
const MAX_REQUEST = 64 * 1024;

interface Reply {
  code: number;
  out: string;
  err: string;
}

export function socketPath(dataDir: string): string {
  return path.join(dataDir, SOCKET_NAME);
}

export function canDelegate(argv: string[]): boolean {
  const command = argv[2];
  return command !== undefined && !NOT_DELEGABLE.has(command) && !argv.includes('--help') && !argv.includes('-h');
}

/**
 * Client side: run argv in the server that holds the database. Never throws: a failure is one line
 * and exit status 1.
 */
export async function runInServer(dataDir: string, argv: string[]): Promise<number> {
  let reply: Reply;
  try {
    reply = await sendCommand(socketPath(dataDir), argv);
  } catch (err) {
    process.stderr.write(`palmid: ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(reply.out);
  process.stderr.write(reply.err);
  return reply.code;
}

function sendCommand(file: string, argv: string[]): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const socket = net.connect({ path: file, allowHalfOpen: true });
    let connected = false;
    let data = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      connected = true;
      socket.end(`${JSON.stringify({ argv })}\n`);
    });
    socket.on('data', (chunk) => (data += chunk));
    socket.on('end', () => {
      const reply = parseReply(data);
      if (reply) resolve(reply);
      // The connection closed before a whole reply came: the server stopped (or crashed) mid-command.
      else reject(new Error('palmid serve stopped before it answered; the command may or may not have taken effect'));
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      reject(
        new Error(
          connected
            ? `palmid serve stopped before it answered (${err.code ?? err.message}); ` +
                'the command may or may not have taken effect'
            : `could not reach palmid serve through ${file} (${err.code ?? err.message})`,
        ),
      );
    });
  });
}

function parseReply(data: string): Reply | undefined {
  try {
    const reply = JSON.parse(data) as Partial<Reply> | null;
    if (reply && typeof reply.code === 'number' && typeof reply.out === 'string' && typeof reply.err === 'string')
      return reply as Reply;
  } catch {
    // not (yet) JSON: the reply was cut short
  }
  return undefined;
}

/** Server side: accept commands from local `palmid` processes. */
export async function listenForCommands(
  dataDir: string,
  run: (argv: string[]) => Promise<number>,
  log: Logger,
): Promise<{ close(): Promise<void> }> {
  const file = socketPath(dataDir);
  fs.rmSync(file, { force: true }); // a leftover from a crashed server; the data-dir lock says we own it
  // allowHalfOpen: the client ends its side after the request and still reads the reply.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      data += chunk;
      if (data.length > MAX_REQUEST) socket.destroy();
    });
    socket.on('end', () => {
      void (async () => {
        const reply: Reply = { code: 1, out: '', err: '' };
        try {
          const { argv } = JSON.parse(data) as { argv: unknown };
          if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string') || !canDelegate(argv)) {
            throw new Error('this command cannot run through the server');
          }
          log.info({ command: argv.slice(2, 4).join(' ') }, 'running a local command');
          reply.code = await ioStorage.run(
            {
              out: (t) => {
                reply.out += t;
              },
              err: (t) => {
                reply.err += t;
              },
            },
            () => run(argv),
          );
        } catch (err) {
          reply.err += `palmid: ${(err as Error).message}\n`;
        }
        socket.end(JSON.stringify(reply));
      })();
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(file, () => resolve());
  });
  fs.chmodSync(file, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        fs.rmSync(file, { force: true });
      }),
  };
}
