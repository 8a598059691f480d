import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { socketPath } from '../../src/cli/delegate.js';
import { palmid, type Run } from '../support/cli.js';

/**
 * While `palmid serve` holds the embedded database, other commands run inside it over a Unix
 * socket. When that server dies mid-command, the command says so in one line and fails; it does
 * not print a stack. The server here is a stand-in that holds the data folder's lock (a live
 * process of its own) and answers the socket the ways a dying server does.
 */
describe('a command delegated to a server that dies', () => {
  let dataDir: string;
  let holder: ChildProcess;
  let server: net.Server | undefined;

  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palmid-delegate-'));
    holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 120000)'], { stdio: 'ignore' });
    fs.writeFileSync(path.join(dataDir, 'palmid.lock'), String(holder.pid), { mode: 0o600 });
  });
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
    fs.rmSync(socketPath(dataDir), { force: true });
  });
  afterAll(() => {
    holder.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function serve(onRequest: (socket: net.Socket) => void): Promise<void> {
    server = net.createServer({ allowHalfOpen: true }, (socket) => socket.once('data', () => onRequest(socket)));
    await new Promise<void>((resolve) => server!.listen(socketPath(dataDir), resolve));
  }

  const run = () => palmid({ PALMID_DATA_DIR: dataDir, LOG_LEVEL: 'silent' }, 'client', 'list');

  function expectOneLine(result: Run, pattern: RegExp) {
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    const lines = result.stderr.split('\n').filter((l) => l.trim());
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
    expect(result.stderr).not.toMatch(/\n\s+at\s|node_modules|\.ts:\d+|Error:/);
  }

  it('reports a server that closed the connection without a reply', async () => {
    await serve((socket) => socket.destroy());
    expectOneLine(await run(), /^palmid: palmid serve stopped before it answered/);
  });

  it('reports a reply cut short', async () => {
    await serve((socket) => {
      socket.write('{"code":0,"out":"client_id');
      socket.destroy();
    });
    expectOneLine(await run(), /^palmid: palmid serve stopped before it answered/);
  });

  it('reports a server process killed mid-command', async () => {
    // A real process that takes the command and is killed (-9) before it answers.
    const script = `require('node:net').createServer((s) => s.once('data', () => process.kill(process.pid, 'SIGKILL'))).listen(${JSON.stringify(socketPath(dataDir))}, () => console.log('ready'))`;
    const dying = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve) => dying.stdout!.once('data', resolve));
    const exited = new Promise((resolve) => dying.once('exit', resolve));
    expectOneLine(await run(), /^palmid: palmid serve stopped before it answered/);
    expect(await exited).toBeNull(); // killed by a signal, as intended
  });

  it('reports a socket nobody listens on any more', async () => {
    // What a server killed with -9 leaves behind: the socket file, and no listener.
    await serve(() => {});
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    fs.writeFileSync(socketPath(dataDir), '');
    expectOneLine(await run(), /^palmid: could not reach palmid serve through .*palmid\.sock/);
  });

  it('still passes on a whole reply and its exit status', async () => {
    await serve((socket) => socket.end(JSON.stringify({ code: 3, out: 'hello\n', err: '' })));
    expect(await run()).toMatchObject({ code: 3, stdout: 'hello\n', stderr: '' });
  });
});
