// The status page: reads streams through this service's GraphQL API and follows every change
// through its own subscriptions (GraphQL over SSE), with no framework and nothing from elsewhere.

const STREAM_FIELDS = 'id provider roomId status version createdAt history { source version }';
const QUERIES = {
  snapshot: `{ providers { provider configured }
    activeLivestreams { ${STREAM_FIELDS} } activeRecordings { ${STREAM_FIELDS} } }`,
  livestreamChanged: `subscription ($after: String) { livestreamChanged(after: $after) { ${STREAM_FIELDS} } }`,
  recordingChanged: `subscription ($after: String) { recordingChanged(after: $after) { ${STREAM_FIELDS} } }`,
  startLivestream: `mutation ($roomId: String!) { startLivestream(input: { provider: SANDBOX, roomId: $roomId }) {
    __typename ... on StartLivestreamSuccess { livestream { ${STREAM_FIELDS} } } ... on Error { message } } }`,
  startRecording: `mutation ($roomId: String!) { startRecording(input: { provider: SANDBOX, roomId: $roomId }) {
    __typename ... on StartRecordingSuccess { recording { ${STREAM_FIELDS} } } ... on Error { message } } }`,
  stopLivestream: `mutation ($id: ID!) { stopLivestream(input: { id: $id }) { __typename ... on Error { message } } }`,
  stopRecording: `mutation ($id: ID!) { stopRecording(input: { id: $id }) { __typename ... on Error { message } } }`,
};
const FINAL = new Set(['STOPPED', 'COMPLETED', 'FAILED']);
const MAX_FEED = 50;
const MAX_ENDED = 20;

const $ = (selector) => document.querySelector(selector);
const state = {
  token: sessionStorage.getItem('livestream-token') ?? '',
  /** Streams by id (kind included), active ones and the latest ended ones. */
  streams: new Map(),
  configured: new Map(),
  summary: null,
  /** Changes seen live since the last summary, per provider, added to its current minute. */
  liveChanges: new Map(),
};

class Unauthorized extends Error {}

async function graphql(query, variables = {}) {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authHeader() },
    body: JSON.stringify({ query, variables }),
  });
  if (response.status === 401 || response.status === 403) throw new Unauthorized(await response.text());
  const body = await response.json();
  if (body.errors?.length) {
    if (body.errors.some((e) => ['UNAUTHENTICATED', 'FORBIDDEN'].includes(e.extensions?.code))) {
      throw new Unauthorized(body.errors[0].message);
    }
    throw new Error(body.errors[0].message);
  }
  return body.data;
}

function authHeader() {
  return state.token ? { authorization: `Bearer ${state.token}` } : {};
}

/**
 * A subscription over SSE that reconnects with a growing delay when its connection drops, and
 * resumes where it stopped: every event carries the change's cursor as its SSE `id`, and a
 * reconnection asks for the changes `after` the last one seen, so nothing committed while the page
 * was away is missed. Before the first event (or when the cursor is too old to resume from,
 * `CURSOR_EXPIRED`), `onResync` reads the current state again and the subscription starts afresh.
 */
function follow(query, onData, onConnected, onResync) {
  let delay = 500;
  let cursor = null;
  let connections = 0;
  const connect = async () => {
    try {
      if (connections++ > 0 && cursor === null) onResync();
      const response = await fetch('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...authHeader() },
        body: JSON.stringify({ query, variables: cursor === null ? {} : { after: cursor } }),
      });
      if (response.status === 401 || response.status === 403) return showTokenForm('The token was refused.');
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      delay = 500;
      onConnected();
      await readEvents(response.body, (event, data, id) => {
        if (event !== 'next' || !data) return;
        const payload = JSON.parse(data);
        if (payload.errors?.some((e) => e.extensions?.code === 'CURSOR_EXPIRED')) cursor = null;
        if (payload.data) {
          onData(payload.data);
          if (id) cursor = id;
        }
      });
    } catch {
      // Dropped: reconnect below.
    }
    setConnection('down', 'reconnecting…');
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 10_000);
  };
  connect();
}

/** Reads an SSE body: `event:` / `data:` / `id:` lines, blank line ends an event. */
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end = buffer.indexOf('\n\n');
    while (end !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      let id = null;
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
        else if (line.startsWith('id:')) id = line.slice(3).trim();
      }
      onEvent(event, data.join('\n'), id);
      end = buffer.indexOf('\n\n');
    }
  }
}

/** Keeps the newest version of a stream; answers whether its status is new to the page. */
function remember(kind, stream) {
  const key = `${kind}:${stream.id}`;
  const known = state.streams.get(key);
  if (known && known.version >= stream.version) return false;
  state.streams.set(key, { ...stream, kind });
  return !known || known.status !== stream.status;
}

let summaryDue = null;
/** The vendor figures follow the activity, at most every two seconds. */
function refreshSummarySoon() {
  if (summaryDue !== null) return; // one refresh already waits: it will read this activity too
  summaryDue = setTimeout(() => {
    summaryDue = null;
    loadSummary().catch(() => {});
  }, 2_000);
}

function onChange(kind, stream) {
  if (remember(kind, stream)) {
    state.liveChanges.set(stream.provider, (state.liveChanges.get(stream.provider) ?? 0) + 1);
    const item = document.createElement('li');
    const source = lastSource(stream);
    item.textContent = `${new Date().toLocaleTimeString()} ${stream.provider} ${kind} ${stream.roomId} → ${stream.status}${source ? ` (${source})` : ''}`;
    const feed = $('#feed');
    feed.prepend(item);
    while (feed.children.length > MAX_FEED) feed.lastElementChild.remove();
  }
  render();
  refreshSummarySoon();
}

function lastSource(stream) {
  const history = stream.history ?? [];
  return history.length ? history[history.length - 1].source : '';
}

function age(createdAt) {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(createdAt)) / 1000));
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function render() {
  const streams = [...state.streams.values()].sort(
    (a, b) => FINAL.has(a.status) - FINAL.has(b.status) || Date.parse(b.createdAt) - Date.parse(a.createdAt),
  );
  // Ended streams stay a while, so a person sees how they ended; only the latest few.
  let ended = 0;
  for (const stream of streams) {
    if (FINAL.has(stream.status) && ++ended > MAX_ENDED) state.streams.delete(`${stream.kind}:${stream.id}`);
  }
  const body = $('#streams tbody');
  body.replaceChildren();
  for (const stream of streams.filter((s) => state.streams.has(`${s.kind}:${s.id}`))) {
    const row = body.insertRow();
    row.dataset.id = stream.id;
    row.dataset.kind = stream.kind;
    if (FINAL.has(stream.status)) row.className = 'ended';
    cell(row, stream.kind);
    cell(row, stream.provider);
    cell(row, stream.roomId, 'room');
    cell(row, stream.status, 'status').dataset.status = stream.status;
    cell(row, age(stream.createdAt));
    cell(row, lastSource(stream), 'source');
    const actions = row.insertCell();
    if (!FINAL.has(stream.status) && stream.status !== 'STOPPING' && stream.provider === 'SANDBOX') {
      const stop = document.createElement('button');
      stop.type = 'button';
      stop.className = 'stop';
      stop.textContent = 'Stop';
      stop.addEventListener('click', () =>
        act(stream.kind === 'livestream' ? 'stopLivestream' : 'stopRecording', { id: stream.id }),
      );
      actions.append(stop);
    }
  }
  $('#no-streams').hidden = streams.length > 0;
  renderVendors();
}

function total(series) {
  return (series ?? []).reduce((sum, n) => sum + n, 0);
}

function renderVendors() {
  const body = $('#vendors tbody');
  body.replaceChildren();
  const vendors = state.summary?.vendors ?? [];
  for (const vendor of vendors) {
    const row = body.insertRow();
    row.dataset.provider = vendor.provider;
    cell(row, vendor.provider);
    cell(row, state.configured.get(vendor.provider) ? 'yes' : 'no', 'configured');
    cell(row, String(total(vendor.calls)), 'calls');
    cell(row, String(total(vendor.failures)), 'failures');
    cell(row, String(total(vendor.webhooks)), 'webhooks');
    cell(row, vendor.budget ? `${vendor.budget.used} / ${vendor.budget.limit}` : '—', 'budget');
  }
  renderChart(vendors);
}

const SVG = 'http://www.w3.org/2000/svg';

/** Bars of changes per minute, one colour per vendor, stacked per minute. */
function renderChart(vendors) {
  const chart = $('#chart');
  chart.replaceChildren();
  const minutes = state.summary?.minutes ?? 15;
  const width = 640;
  const height = 120;
  const perMinute = Array.from({ length: minutes }, (_, i) =>
    vendors.map((vendor) => {
      const base = vendor.changes?.[i] ?? 0;
      return i === minutes - 1 ? base + (state.liveChanges.get(vendor.provider) ?? 0) : base;
    }),
  );
  const highest = Math.max(1, ...perMinute.map((counts) => counts.reduce((a, b) => a + b, 0)));
  const barWidth = width / minutes - 4;
  perMinute.forEach((counts, i) => {
    let y = height;
    counts.forEach((count, v) => {
      if (!count) return;
      const h = (count / highest) * (height - 10);
      y -= h;
      const bar = document.createElementNS(SVG, 'rect');
      bar.setAttribute('x', String(i * (barWidth + 4) + 2));
      bar.setAttribute('y', String(y));
      bar.setAttribute('width', String(barWidth));
      bar.setAttribute('height', String(h));
      bar.setAttribute('class', `c${v % 6}`);
      const title = document.createElementNS(SVG, 'title');
      title.textContent = `${vendors[v].provider}: ${count}`;
      bar.append(title);
      chart.append(bar);
    });
  });
  const axis = document.createElementNS(SVG, 'line');
  axis.setAttribute('x1', '0');
  axis.setAttribute('x2', String(width));
  axis.setAttribute('y1', String(height));
  axis.setAttribute('y2', String(height));
  axis.setAttribute('class', 'axis');
  chart.append(axis);
  const legend = $('#legend');
  legend.replaceChildren();
  vendors.forEach((vendor, v) => {
    const entry = document.createElement('span');
    const swatch = document.createElement('i');
    swatch.className = `swatch c${v % 6}`;
    entry.append(swatch, vendor.provider);
    legend.append(entry);
  });
  $('#minutes').textContent = String(minutes);
}

async function loadSummary() {
  const response = await fetch('/status/summary.json', { headers: authHeader() });
  if (response.status === 401 || response.status === 403) throw new Unauthorized('summary');
  state.summary = await response.json();
  state.liveChanges.clear();
  renderVendors();
}

async function loadSnapshot() {
  const data = await graphql(QUERIES.snapshot);
  for (const info of data.providers) state.configured.set(info.provider, info.configured);
  for (const stream of data.activeLivestreams) remember('livestream', stream);
  for (const stream of data.activeRecordings) remember('recording', stream);
  render();
}

async function act(name, variables) {
  $('#action-error').textContent = '';
  try {
    const data = await graphql(QUERIES[name], variables);
    const result = Object.values(data)[0];
    if (result.message) $('#action-error').textContent = result.message;
    if (result.livestream) onChange('livestream', result.livestream);
    if (result.recording) onChange('recording', result.recording);
  } catch (error) {
    if (error instanceof Unauthorized) return showTokenForm('Starting and stopping needs a host token.');
    $('#action-error').textContent = error.message;
  }
}

function setConnection(stateName, text) {
  const badge = $('#connection');
  badge.dataset.state = stateName;
  badge.textContent = text;
}

function showTokenForm(message) {
  $('#token-form').hidden = false;
  $('#dashboard').hidden = true;
  $('#token-error').textContent = message ?? '';
  setConnection('down', 'token needed');
}

async function start() {
  try {
    await Promise.all([loadSnapshot(), loadSummary()]);
  } catch (error) {
    if (error instanceof Unauthorized) return showTokenForm(state.token ? 'The token was refused.' : '');
    setConnection('down', `failed: ${error.message}`);
    return;
  }
  $('#token-form').hidden = true;
  $('#dashboard').hidden = false;
  let connected = 0;
  const onConnected = () => {
    if (++connected >= 2) setConnection('live', 'live');
  };
  // Reconnecting without a cursor may have missed changes: read the current state again.
  const resync = () => loadSnapshot().catch(() => {});
  follow(QUERIES.livestreamChanged, (data) => onChange('livestream', data.livestreamChanged), onConnected, resync);
  follow(QUERIES.recordingChanged, (data) => onChange('recording', data.recordingChanged), onConnected, resync);
  setInterval(() => loadSummary().catch(() => {}), 10_000);
  setInterval(render, 5_000);
}

$('#token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  state.token = $('#token').value.trim();
  sessionStorage.setItem('livestream-token', state.token);
  start();
});
$('#start-livestream').addEventListener('click', () => act('startLivestream', { roomId: roomName() }));
$('#start-recording').addEventListener('click', () => act('startRecording', { roomId: roomName() }));

function roomName() {
  return `status-page-${Math.random().toString(36).slice(2, 8)}`;
}

start();
