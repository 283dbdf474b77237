// Berth's dashboard. It lists each kind once through /ui/api/list, then
// follows every change through one event stream (/ui/api/watch); when the
// stream ends it lists again. Everything the cluster says is put on the
// page as text (textContent), never as HTML.
'use strict';

(() => {
  const KINDS = ['Node', 'Pod', 'Deployment', 'StatefulSet', 'Service', 'Endpoints', 'Ingress', 'Event'];
  const CLUSTER_SCOPED = new Set(['Node']);
  const TOKEN_KEY = 'berth.token';
  const TAB_KEY = 'berth.tab';
  const MAX_ROWS = 500;

  let token = null;
  let store = emptyStore(); // kind -> Map("ns/name" -> object)
  let res = emptyStore(); // kind -> Map("ns/name" -> {milliCPU, memory, gpu, pods})
  let cluster = null; // servers and the caller (/ui/api/cluster)
  let gen = 0; // each connect() is one generation; older ones stop
  let abort = null;
  let backoff = 1000;
  let retryTimer = 0;

  function emptyStore() {
    const s = {};
    for (const k of KINDS) s[k] = new Map();
    return s;
  }

  // ---- DOM helpers ----

  const $ = (sel) => document.querySelector(sel);

  // el builds an element: attrs may hold class, text, title and data-*.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function badge(text, kind) {
    return el('span', { class: 'badge ' + (kind || ''), text });
  }

  function fill(tbody, rows, cols, empty) {
    tbody.replaceChildren(...rows);
    if (rows.length === 0) {
      tbody.append(el('tr', { class: 'empty' }, el('td', { colspan: String(cols), text: empty })));
    }
  }

  // ---- formatting ----

  function key(o) {
    return (o.metadata.namespace || '') + '/' + o.metadata.name;
  }

  function sortedValues(kind) {
    return [...store[kind].values()].sort((a, b) => key(a).localeCompare(key(b)));
  }

  function age(ts) {
    if (!ts) return '';
    const s = Math.max(0, Math.round((Date.now() - Date.parse(ts)) / 1000));
    if (Number.isNaN(s)) return '';
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm';
    if (s < 86400) return Math.floor(s / 3600) + 'h' + (s < 36000 ? ' ' + Math.floor((s % 3600) / 60) + 'm' : '');
    return Math.floor(s / 86400) + 'd';
  }

  function cpu(m) {
    if (m === 0) return '0';
    if (m < 1000) return m + 'm';
    return (m / 1000).toFixed(m % 1000 === 0 ? 0 : 1);
  }

  function bytes(b) {
    if (b === 0) return '0';
    const units = ['B', 'Ki', 'Mi', 'Gi', 'Ti'];
    let i = 0;
    while (b >= 1024 && i < units.length - 1) {
      b /= 1024;
      i++;
    }
    return (b >= 10 || i === 0 ? Math.round(b) : b.toFixed(1)) + ' ' + units[i];
  }

  function pct(used, total) {
    return total > 0 ? Math.min(100, (100 * used) / total) : 0;
  }

  function bar(p, cls) {
    const inner = el('span', { class: 'fill' });
    inner.style.width = p.toFixed(1) + '%';
    const level = p >= 90 ? 'high' : p >= 70 ? 'mid' : 'low';
    return el('span', { class: 'bar ' + (cls || level) }, inner);
  }

  // ---- login ----

  function insecureOrigin() {
    if (location.protocol === 'https:') return false;
    const h = location.hostname;
    return !(h === 'localhost' || h === '[::1]' || h === '::1' || /^127\./.test(h));
  }

  function httpsURL() {
    return 'https://' + location.host + '/';
  }

  // takeToken moves a token from the address (#token=...) into session
  // storage and off the address bar.
  function takeToken() {
    const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (m) {
      history.replaceState(null, '', location.pathname + location.search);
      if (!insecureOrigin()) sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function showLogin(message) {
    $('#app').hidden = true;
    $('#tabs').hidden = true;
    $('#session').hidden = true;
    $('#login').hidden = false;
    $('#login-error').textContent = message || '';
    const insecure = insecureOrigin();
    const warn = $('#login-insecure');
    warn.hidden = !insecure;
    if (insecure) {
      warn.replaceChildren('This page came over plain HTTP from another machine: a token sent now would cross the network in clear. Open ',
        el('a', { href: httpsURL(), text: httpsURL() }), ' instead (the cluster CA signs its certificate).');
    }
    $('#token').disabled = insecure;
    $('#login-form button').disabled = insecure;
    if (!insecure) $('#token').focus();
  }

  function signOut(message) {
    gen++;
    if (abort) abort.abort();
    clearTimeout(retryTimer);
    sessionStorage.removeItem(TOKEN_KEY);
    token = null;
    store = emptyStore();
    res = emptyStore();
    showLogin(message);
  }

  function start(t) {
    token = t;
    $('#login').hidden = true;
    $('#app').hidden = false;
    $('#tabs').hidden = false;
    $('#session').hidden = false;
    showTab(sessionStorage.getItem(TAB_KEY) || 'overview');
    connect();
  }

  // ---- data ----

  class APIError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function call(path, signal, accept) {
    const r = await fetch(path, {
      headers: { Authorization: 'Bearer ' + token, Accept: accept || 'application/json' },
      signal, cache: 'no-store',
    });
    if (!r.ok) {
      let msg = r.status + ' ' + r.statusText;
      try {
        msg = (await r.json()).error || msg;
      } catch (_) { /* not JSON */ }
      throw new APIError(r.status, msg);
    }
    return r;
  }

  async function connect() {
    const my = ++gen;
    if (abort) abort.abort();
    clearTimeout(retryTimer);
    abort = new AbortController();
    const signal = abort.signal;
    setLive('connecting', 'Connecting');
    try {
      cluster = await (await call('/ui/api/cluster', signal)).json();
      showWho(cluster.you);
      const scope = cluster.you.namespaces.length ? cluster.you.namespaces : [''];
      const lists = [];
      for (const kind of KINDS) {
        for (const ns of CLUSTER_SCOPED.has(kind) ? [''] : scope) lists.push({ kind, ns });
      }
      const answers = await Promise.all(lists.map(async (l) =>
        (await call('/ui/api/list/' + l.kind + '?namespace=' + encodeURIComponent(l.ns), signal)).json()));
      if (my !== gen) return;
      const fresh = emptyStore();
      const freshRes = emptyStore();
      const q = new URLSearchParams();
      answers.forEach((a, i) => {
        const { kind, ns } = lists[i];
        for (const o of a.items) fresh[kind].set(key(o), o);
        for (const [k, v] of Object.entries(a.resources || {})) freshRes[kind].set(k, v);
        q.append('w', kind + '/' + ns + '/' + a.revision);
      });
      store = fresh;
      res = freshRes;
      schedule();
      q.set('cluster', '1');
      await follow('/ui/api/watch?' + q, signal, my);
      if (my === gen) retry('the event stream ended');
    } catch (e) {
      if (my !== gen || e.name === 'AbortError') return;
      if (e.status === 401) {
        signOut(e.message);
      } else if (e.status === 403) {
        showBanner(e.message);
        setLive('down', 'No access');
      } else {
        retry(e.message);
      }
    }
  }

  function retry(why) {
    setLive('down', 'Reconnecting');
    showBanner('Connection lost (' + why + '); reconnecting…');
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 15000);
  }

  // follow reads the event stream until it ends.
  async function follow(url, signal, my) {
    const r = await call(url, signal, 'text/event-stream');
    setLive('live', 'Live');
    hideBanner();
    backoff = 1000;
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done || my !== gen) return;
      buf += value;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
        if (data) apply(JSON.parse(data));
      }
    }
  }

  function apply(ev) {
    switch (ev.type) {
      case 'ADDED':
      case 'MODIFIED':
        store[ev.kind].set(key(ev.object), ev.object);
        if (ev.resources) res[ev.kind].set(key(ev.object), ev.resources);
        break;
      case 'DELETED':
        store[ev.kind].delete(key(ev.object));
        res[ev.kind].delete(key(ev.object));
        break;
      case 'CLUSTER':
        cluster = Object.assign({}, cluster, ev.cluster);
        break;
      case 'ERROR':
        showBanner('Watch of ' + ev.kind + ' ended: ' + ev.error);
        break;
    }
    schedule();
  }

  // ---- chrome ----

  function setLive(state, text) {
    $('#live').className = 'live ' + state;
    $('#live-text').textContent = text;
  }

  function showBanner(text) {
    const b = $('#banner');
    b.textContent = text;
    b.hidden = false;
  }

  function hideBanner() {
    $('#banner').hidden = true;
  }

  function showWho(you) {
    const scope = you.namespaces.length ? ' · ' + you.namespaces.join(', ') : '';
    $('#who').textContent = you.role + scope;
    $('#who').title = 'ACL token ' + you.token;
  }

  function showTab(name) {
    if (!document.getElementById('tab-' + name)) name = 'overview';
    for (const b of document.querySelectorAll('#tabs button')) b.classList.toggle('active', b.dataset.tab === name);
    for (const s of document.querySelectorAll('.tab')) s.hidden = s.id !== 'tab-' + name;
    sessionStorage.setItem(TAB_KEY, name);
    schedule();
  }

  // ---- rendering ----

  let pending = false;
  function schedule() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      render();
    });
  }

  function render() {
    if (!token) return;
    const tab = sessionStorage.getItem(TAB_KEY) || 'overview';
    if (tab === 'overview') {
      renderStats();
      renderServers();
      renderNodes();
      renderRollouts($('#rollouts-overview tbody'), false);
      renderFeed();
    } else if (tab === 'workloads') {
      renderRollouts($('#rollouts tbody'), true);
      renderPods();
    } else if (tab === 'network') {
      renderServices();
      renderIngresses();
    } else if (tab === 'events') {
      renderEvents();
    }
  }

  function nodeReady(n) {
    const c = (n.status.conditions || []).find((x) => x.type === 'Ready');
    return c && c.status === 'True';
  }

  function podActive(p) {
    const ph = p.status && p.status.phase;
    return ph !== 'Succeeded' && ph !== 'Failed';
  }

  function podReady(p) {
    const c = ((p.status && p.status.conditions) || []).find((x) => x.type === 'Ready');
    return c && c.status === 'True';
  }

  function rollout(o) {
    const spec = o.spec || {};
    const st = o.status || {};
    const desired = spec.replicas === undefined || spec.replicas === null ? 1 : spec.replicas;
    const ready = st.readyReplicas || 0;
    const updated = st.updatedReplicas || 0;
    const current = st.replicas || 0;
    const stalled = (st.conditions || []).some((c) => c.type === 'Progressing' && c.status === 'False');
    let state = 'Available';
    let cls = 'ok';
    if (desired === 0 && current === 0) {
      state = 'Scaled to zero';
      cls = 'muted';
    } else if (stalled) {
      state = 'Stalled';
      cls = 'bad';
    } else if (updated < desired) {
      state = 'Rolling out';
      cls = 'info';
    } else if (ready < desired || current > desired) {
      state = current > desired ? 'Scaling down' : 'Scaling up';
      cls = 'info';
    }
    return { desired, ready, updated, state, cls };
  }

  function stat(label, value, sub, cls) {
    return el('div', { class: 'stat ' + (cls || '') },
      el('div', { class: 'stat-label', text: label }),
      el('div', { class: 'stat-value', text: value }),
      el('div', { class: 'stat-sub', text: sub || '' }));
  }

  function renderStats() {
    const nodes = [...store.Node.values()];
    const ready = nodes.filter(nodeReady).length;
    const pods = [...store.Pod.values()].filter(podActive);
    const running = pods.filter((p) => p.status && p.status.phase === 'Running').length;
    const work = [...store.Deployment.values(), ...store.StatefulSet.values()].map(rollout);
    const healthy = work.filter((w) => w.cls === 'ok' || w.cls === 'muted').length;
    const warnings = [...store.Event.values()].filter((e) => e.type === 'Warning').length;
    const servers = (cluster && cluster.servers) || [];
    const leader = cluster && cluster.leader;
    $('#stats').replaceChildren(
      stat('Servers', String(servers.length), leader ? 'leader ' + leader : 'no leader', leader ? '' : 'bad'),
      stat('Nodes', ready + ' / ' + nodes.length, 'ready', ready < nodes.length ? 'warn' : ''),
      stat('Pods', running + ' / ' + pods.length, 'running'),
      stat('Workloads', healthy + ' / ' + work.length, 'available', healthy < work.length ? 'warn' : ''),
      stat('Services', String(store.Service.size), store.Ingress.size + (store.Ingress.size === 1 ? ' ingress' : ' ingresses')),
      stat('Warnings', String(warnings), 'events', warnings ? 'warn' : ''));
  }

  function renderServers() {
    const servers = ((cluster && cluster.servers) || []).slice().sort((a, b) => a.id.localeCompare(b.id));
    const rows = servers.map((s) => {
      const role = s.error ? badge('Unreachable', 'bad') : badge(s.state, s.state === 'Leader' ? 'leader' : s.state === 'Follower' ? 'muted' : 'warn');
      const name = el('td', {}, el('span', { class: 'strong', text: s.id }),
        s.id === cluster.self ? el('span', { class: 'muted small', text: ' (this server)' }) : null,
        s.voter ? null : el('span', { class: 'muted small', text: ' non-voter' }));
      const tr = el('tr', { 'data-id': s.id, title: s.error || '' }, name, el('td', {}, role),
        el('td', { class: 'num', text: s.error ? '–' : s.appliedIndex || 0 }),
        el('td', { class: 'num', text: s.error ? '–' : s.commitIndex || 0 }),
        el('td', { class: 'num', text: s.error ? '–' : s.lastLogIndex || 0 }),
        el('td', { class: 'mono muted', text: s.apiAddr || '' }));
      return tr;
    });
    fill($('#servers tbody'), rows, 6, 'No servers known yet');
    $('#servers-note').textContent = cluster && cluster.time ? 'as of ' + new Date(cluster.time).toLocaleTimeString() : '';
  }

  function usageRow(label, used, total, fmt) {
    const p = pct(used, total);
    return el('div', { class: 'usage' },
      el('div', { class: 'usage-head' }, el('span', { text: label }),
        el('span', { class: 'muted', text: total > 0 ? fmt(used) + ' / ' + fmt(total) + ' · ' + Math.round(p) + '%' : 'none' })),
      bar(p));
  }

  function renderNodes() {
    const used = new Map();
    for (const [k, p] of store.Pod) {
      const node = p.spec && p.spec.nodeName;
      const r = res.Pod.get(k);
      if (!node || !r || !podActive(p)) continue;
      const u = used.get(node) || { milliCPU: 0, memory: 0, gpu: 0, pods: 0 };
      u.milliCPU += r.milliCPU;
      u.memory += r.memory;
      u.gpu += r.gpu;
      u.pods += r.pods;
      used.set(node, u);
    }
    const cards = sortedValues('Node').map((n) => {
      const name = n.metadata.name;
      const alloc = res.Node.get(key(n)) || { milliCPU: 0, memory: 0, gpu: 0, pods: 0 };
      const u = used.get(name) || { milliCPU: 0, memory: 0, gpu: 0, pods: 0 };
      const ready = nodeReady(n);
      const ip = ((n.status.addresses || []).find((a) => a.type === 'InternalIP') || {}).address;
      const info = n.status.nodeInfo || {};
      const gpus = n.status.gpus || [];
      const badges = el('span', { class: 'badges' }, badge(ready ? 'Ready' : 'NotReady', ready ? 'ok' : 'bad'),
        n.spec && n.spec.unschedulable ? badge('Cordoned', 'warn') : null);
      const meta = [ip, info.architecture, info.agentVersion && 'berth ' + info.agentVersion].filter(Boolean).join(' · ');
      return el('div', { class: 'node' + (ready ? '' : ' notready'), 'data-node': name },
        el('div', { class: 'node-head' }, el('span', { class: 'node-name', text: name }), badges),
        el('div', { class: 'muted small mono', text: meta }),
        usageRow('CPU', u.milliCPU, alloc.milliCPU, cpu),
        usageRow('Memory', u.memory, alloc.memory, bytes),
        alloc.gpu > 0 || gpus.length
          ? usageRow('GPU' + (gpus[0] && gpus[0].model ? ' · ' + gpus[0].model : ''), u.gpu, alloc.gpu, String)
          : el('div', { class: 'usage none muted small', text: 'No GPUs' }),
        el('div', { class: 'node-foot muted small', text: u.pods + ' pods of ' + alloc.pods }));
    });
    const box = $('#nodes');
    box.replaceChildren(...cards);
    if (cards.length === 0) box.append(el('p', { class: 'muted', text: 'No nodes have joined yet.' }));
  }

  function renderRollouts(tbody, full) {
    const items = [
      ...sortedValues('Deployment').map((o) => ['Deployment', o]),
      ...sortedValues('StatefulSet').map((o) => ['StatefulSet', o]),
    ];
    const rows = items.map(([kind, o]) => {
      const r = rollout(o);
      const progress = el('td', { class: 'progress' }, bar(pct(r.ready, r.desired), r.cls === 'bad' ? 'high' : r.ready >= r.desired ? 'low' : 'mid'),
        el('span', { class: 'progress-text small', text: r.ready + '/' + r.desired + ' ready' }));
      const cells = [
        el('td', {}, el('span', { class: 'kind', text: kind === 'Deployment' ? 'deploy' : 'sts' }), el('span', { class: 'strong', text: o.metadata.name })),
        el('td', { class: 'muted', text: o.metadata.namespace }),
        progress,
        el('td', { class: 'num ready', text: r.ready }),
        el('td', { class: 'num updated', text: r.updated }),
        el('td', { class: 'num desired', text: r.desired }),
        el('td', {}, badge(r.state, r.cls)),
      ];
      if (full) {
        const ctrs = (o.spec.template && o.spec.template.spec && o.spec.template.spec.containers) || [];
        cells.push(el('td', { class: 'mono small', text: ctrs.map((c) => c.image).join(', ') }));
        cells.push(el('td', { class: 'muted', text: age(o.metadata.creationTimestamp) }));
      }
      return el('tr', { 'data-kind': kind, 'data-key': key(o) }, ...cells);
    });
    fill(tbody, rows, full ? 9 : 7, 'No Deployments or StatefulSets');
  }

  function podStatus(p) {
    if (p.metadata.deletionTimestamp) return ['Terminating', 'muted'];
    const st = p.status || {};
    for (const c of st.containerStatuses || []) {
      const w = c.state && c.state.waiting;
      if (w && w.reason) return [w.reason, /Err|BackOff|Invalid/.test(w.reason) ? 'bad' : 'warn'];
    }
    const phase = st.phase || 'Pending';
    if (phase === 'Running') return podReady(p) ? ['Running', 'ok'] : ['Running · not ready', 'warn'];
    if (phase === 'Succeeded') return ['Completed', 'muted'];
    if (phase === 'Failed') return [st.reason || 'Failed', 'bad'];
    if (phase === 'Pending' && !(p.spec && p.spec.nodeName)) return [st.reason || 'Pending', 'warn'];
    return [phase, 'warn'];
  }

  function renderPods() {
    const filter = $('#pod-filter').value.trim().toLowerCase();
    let pods = sortedValues('Pod');
    if (filter) {
      pods = pods.filter((p) => (key(p) + ' ' + ((p.spec && p.spec.nodeName) || '') + ' ' + ((p.status && p.status.podIP) || '')).toLowerCase().includes(filter));
    }
    const rows = pods.slice(0, MAX_ROWS).map((p) => {
      const [text, cls] = podStatus(p);
      const cs = (p.status && p.status.containerStatuses) || [];
      const total = (p.spec && p.spec.containers && p.spec.containers.length) || cs.length;
      const readyN = cs.filter((c) => c.ready).length;
      const restarts = cs.reduce((n, c) => n + (c.restartCount || 0), 0);
      return el('tr', { 'data-key': key(p) },
        el('td', { class: 'strong', text: p.metadata.name }),
        el('td', { class: 'muted', text: p.metadata.namespace }),
        el('td', {}, badge(text, cls)),
        el('td', { class: 'num', text: readyN + '/' + total }),
        el('td', { class: 'num' + (restarts ? ' warn-text' : ''), text: restarts }),
        el('td', { text: (p.spec && p.spec.nodeName) || '–' }),
        el('td', { class: 'mono', text: (p.status && p.status.podIP) || '–' }),
        el('td', { class: 'muted', text: age(p.metadata.creationTimestamp) }));
    });
    if (pods.length > MAX_ROWS) {
      rows.push(el('tr', { class: 'empty' }, el('td', { colspan: '8', text: (pods.length - MAX_ROWS) + ' more pods: filter to see them' })));
    }
    fill($('#pods tbody'), rows, 8, filter ? 'No pods match' : 'No pods');
  }

  function renderServices() {
    const rows = sortedValues('Service').map((s) => {
      const spec = s.spec || {};
      const ports = (spec.ports || []).map((p) => {
        let t = p.port + '/' + (p.protocol || 'TCP');
        if (p.targetPort !== undefined && String(p.targetPort) !== String(p.port)) t += ' → ' + p.targetPort;
        if (p.nodePort) t += ' (node ' + p.nodePort + ')';
        return t;
      }).join(', ');
      const ep = store.Endpoints.get(key(s));
      let readyN = 0;
      let notReady = 0;
      for (const sub of (ep && ep.subsets) || []) {
        readyN += (sub.addresses || []).length;
        notReady += (sub.notReadyAddresses || []).length;
      }
      const selector = Object.entries(spec.selector || {}).map(([k, v]) => k + '=' + v).join(', ');
      const headless = spec.clusterIP === 'None';
      return el('tr', { 'data-key': key(s) },
        el('td', { class: 'strong', text: s.metadata.name }),
        el('td', { class: 'muted', text: s.metadata.namespace }),
        el('td', { text: spec.type || 'ClusterIP' }),
        el('td', { class: 'mono', text: headless ? 'None (headless)' : spec.clusterIP || '–' }),
        el('td', { class: 'mono small', text: ports || '–' }),
        el('td', { class: 'num endpoints' }, el('span', { class: readyN ? '' : 'warn-text', text: readyN }),
          notReady ? el('span', { class: 'muted small', text: ' +' + notReady + ' not ready' }) : null),
        el('td', { class: 'mono small muted', text: selector || '–' }));
    });
    fill($('#services tbody'), rows, 7, 'No Services');
  }

  function backendText(b) {
    if (!b || !b.service) return '–';
    const p = b.service.port || {};
    return b.service.name + ':' + (p.number || p.name || '');
  }

  function renderIngresses() {
    const rows = [];
    for (const ing of sortedValues('Ingress')) {
      const spec = ing.spec || {};
      const tlsHosts = new Set((spec.tls || []).flatMap((t) => t.hosts || []));
      const entries = [];
      for (const rule of spec.rules || []) {
        for (const p of (rule.http && rule.http.paths) || []) {
          entries.push({ host: rule.host || '*', path: (p.path || '/') + (p.pathType && p.pathType !== 'Prefix' ? ' (' + p.pathType + ')' : ''), backend: backendText(p.backend), tls: tlsHosts.has(rule.host) });
        }
      }
      if (spec.defaultBackend) entries.push({ host: '*', path: '(default)', backend: backendText(spec.defaultBackend), tls: false });
      if (entries.length === 0) entries.push({ host: '–', path: '–', backend: '–', tls: false });
      entries.forEach((e, i) => rows.push(el('tr', { 'data-key': key(ing) },
        el('td', { class: 'strong', text: i === 0 ? ing.metadata.name : '' }),
        el('td', { class: 'muted', text: i === 0 ? ing.metadata.namespace : '' }),
        el('td', { class: 'mono', text: e.host }),
        el('td', { class: 'mono', text: e.path }),
        el('td', { class: 'mono', text: e.backend }),
        el('td', {}, e.tls ? badge('TLS', 'ok') : el('span', { class: 'muted', text: '–' })))));
    }
    fill($('#ingresses tbody'), rows, 6, 'No Ingresses');
  }

  function eventTime(e) {
    return e.lastTimestamp || e.firstTimestamp || e.metadata.creationTimestamp || '';
  }

  function sortedEvents() {
    const rv = (e) => Number(e.metadata.resourceVersion) || 0;
    const at = (e) => Date.parse(eventTime(e)) || 0; // times of one second differ in their microseconds
    return [...store.Event.values()].sort((a, b) => at(b) - at(a) || rv(b) - rv(a));
  }

  function objectText(e) {
    const o = e.involvedObject || {};
    return (o.kind || '?').toLowerCase() + '/' + (o.name || '?') + (o.namespace ? ' · ' + o.namespace : '');
  }

  function renderFeed() {
    const items = sortedEvents().slice(0, 10).map((e) => el('li', { class: 'feed-item ' + (e.type === 'Warning' ? 'warning' : 'normal') },
      el('span', { class: 'feed-dot' }),
      el('div', { class: 'feed-body' },
        el('div', {}, el('span', { class: 'strong', text: e.reason || '' }), el('span', { class: 'muted small', text: ' ' + objectText(e) }),
          e.count > 1 ? el('span', { class: 'muted small', text: ' ×' + e.count }) : null),
        el('div', { class: 'feed-msg', text: e.message || '' })),
      el('span', { class: 'muted small feed-time', text: age(eventTime(e)) })));
    const feed = $('#recent-events');
    feed.replaceChildren(...items);
    if (items.length === 0) feed.append(el('li', { class: 'muted empty', text: 'No events yet' }));
  }

  function renderEvents() {
    const warningsOnly = $('#warnings-only').checked;
    const events = sortedEvents().filter((e) => !warningsOnly || e.type === 'Warning');
    const rows = events.slice(0, MAX_ROWS).map((e) => {
      const src = e.source || {};
      return el('tr', { 'data-key': key(e) },
        el('td', { class: 'muted', text: age(eventTime(e)) }),
        el('td', {}, badge(e.type || 'Normal', e.type === 'Warning' ? 'warn' : 'muted')),
        el('td', { class: 'strong', text: e.reason || '' }),
        el('td', { class: 'mono small', text: objectText(e) }),
        el('td', { class: 'message', text: e.message || '' }),
        el('td', { class: 'muted small', text: [src.component, src.host].filter(Boolean).join(' @ ') }),
        el('td', { class: 'num', text: e.count || 1 }));
    });
    fill($('#events tbody'), rows, 7, warningsOnly ? 'No warnings' : 'No events yet');
  }

  // ---- wiring ----

  document.addEventListener('DOMContentLoaded', () => {
    $('#login-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const t = $('#token').value.trim();
      if (!t || insecureOrigin()) return;
      sessionStorage.setItem(TOKEN_KEY, t);
      $('#token').value = '';
      start(t);
    });
    $('#logout').addEventListener('click', () => signOut(''));
    for (const b of document.querySelectorAll('[data-tab]')) b.addEventListener('click', () => showTab(b.dataset.tab));
    for (const b of document.querySelectorAll('[data-goto]')) b.addEventListener('click', () => showTab(b.dataset.goto));
    $('#pod-filter').addEventListener('input', schedule);
    $('#warnings-only').addEventListener('change', schedule);
    window.addEventListener('hashchange', () => {
      const had = token;
      const t = takeToken();
      if (t && t !== had) start(t);
    });
    setInterval(schedule, 10000); // ages move on
    const t = takeToken();
    if (t) start(t);
    else showLogin('');
  });
})();
