// Drives `agentd mcp` with the official MCP TypeScript client and prints
// one JSON line: the tools listed and each call's result. Run by
// cmd/agentd's TestMCPTypeScriptClient.
//
//   node client.mjs stdio AGENTD_BINARY CALLS_JSON
//   node client.mjs http URL KEY CALLS_JSON
//
// CALLS_JSON is [{"name": TOOL, "arguments": {...}}, ...]; an argument
// "$field" is the string field of that name in an earlier call's
// structured output (store_put's "$root"). The agent's settings come from
// the environment (SOVMESH_*). In http mode the script first connects with
// a wrong key and with none, and reports how the server refused them.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [mode, ...args] = process.argv.slice(2);

function newClient() {
  return new Client({ name: 'sovmesh-mcp-test', version: '1.0.0' });
}

async function session(transport, calls) {
  const client = newClient();
  await client.connect(transport);
  const { tools } = await client.listTools();
  const vars = {};
  const results = [];
  for (const c of calls) {
    const argsIn = JSON.parse(JSON.stringify(c.arguments ?? {}), (k, v) =>
      typeof v === 'string' && v.startsWith('$') ? vars[v.slice(1)] : v);
    const res = await client.callTool({ name: c.name, arguments: argsIn });
    for (const [k, v] of Object.entries(res.structuredContent ?? {})) {
      if (typeof v === 'string') vars[k] = v;
    }
    results.push({
      name: c.name,
      isError: !!res.isError,
      structured: res.structuredContent ?? null,
      text: (res.content ?? []).map((x) => x.text ?? '').join(''),
    });
  }
  await client.close();
  return {
    server: client.getServerVersion(),
    tools: tools.map((t) => ({ name: t.name, description: t.description, inputSchema: t.inputSchema, outputSchema: t.outputSchema })),
    results,
  };
}

// refused connects with headers and returns why the server refused, or
// null if it accepted.
async function refused(url, headers) {
  const client = newClient();
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  } catch (e) {
    return String(e?.message ?? e);
  }
  await client.close();
  return null;
}

let out;
if (mode === 'stdio') {
  const [bin, calls] = args;
  out = await session(new StdioClientTransport({ command: bin, args: ['mcp'], env: process.env, stderr: 'inherit' }), JSON.parse(calls));
} else if (mode === 'http') {
  const [url, key, calls] = args;
  const wrongKey = await refused(url, { Authorization: 'Bearer not-the-key-0123456789' });
  const noKey = await refused(url, {});
  out = await session(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${key}` } } }), JSON.parse(calls));
  out.wrongKey = wrongKey;
  out.noKey = noKey;
} else {
  console.error('usage: node client.mjs stdio BIN CALLS | http URL KEY CALLS');
  process.exit(2);
}
console.log(JSON.stringify(out));
