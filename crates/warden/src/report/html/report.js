(function () {
  'use strict';
  // The report's little script: tooltips and zoom on the charts, the sortable, filterable
  // tests table. Everything it needs is in this page; it loads nothing.
  var D = JSON.parse(document.getElementById('warden-data').textContent);
  var C = { ID: 0, ST: 1, DUR: 2, PEAK: 3, CPU: 4, ATT: 5, REQ: 6, SHARD: 7, CARD: 8, HIST: 9, LOG: 10, WHY: 11, W: 12, CARRIED: 13, LEAKS: 14 };
  var RANK = { fail: 0, timeout: 1, oom: 2, error: 3, leak: 4, flaky: 5, cancelled: 6, unfinished: 7, pass: 8, skip: 9 };
  var WORD = { fail: 'FAIL', timeout: 'TIMEOUT', oom: 'OOM', error: 'ERROR', leak: 'LEAK', flaky: 'FLAKY', cancelled: 'CANCELLED', unfinished: 'UNFINISHED', pass: 'PASS', skip: 'SKIP' };
  var LETTER = { p: 'pass', f: 'fail', t: 'timeout', s: 'skip', k: 'flaky', l: 'leak', e: 'error', o: 'oom' };
  var W = 1000, MIN_BAR = 0.6, PAGE = 500;
  var tests = D.tests;

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    }).replace(/[\u202a-\u202e\u2066-\u2069]/g, function (c) {
      return '\\u{' + c.charCodeAt(0).toString(16) + '}';
    });
  }
  function ms(v) {
    if (v == null) return '';
    if (v < 1000) return v + 'ms';
    if (v < 10000) return (v / 1000).toFixed(2) + 's';
    if (v < 60000) return (v / 1000).toFixed(1) + 's';
    if (v < 3600000) return Math.floor(v / 60000) + 'm ' + String(Math.floor(v % 60000 / 1000)).padStart(2, '0') + 's';
    return Math.floor(v / 3600000) + 'h ' + String(Math.floor(v % 3600000 / 60000)).padStart(2, '0') + 'm';
  }
  function bytes(v) {
    if (v == null) return '';
    var k = 1024;
    if (v < k) return v + ' B';
    if (v < k * k) return (v / k).toFixed(1) + ' KiB';
    if (v < k * k * k) return (v / k / k).toFixed(1) + ' MiB';
    return (v / k / k / k).toFixed(2) + ' GiB';
  }

  // ---- tooltips: the SVG <title> of a bar or guard mark, shown at once and styled
  var tip = document.getElementById('tip');
  var held = null;
  function restore() {
    if (held) { held.el.appendChild(held.title); held = null; }
    tip.hidden = true;
    var dim = document.querySelector('.bars.dim');
    if (dim) {
      dim.classList.remove('dim');
      Array.prototype.forEach.call(dim.querySelectorAll('.hl'), function (r) { r.classList.remove('hl'); });
    }
  }
  document.addEventListener('mouseover', function (e) {
    var el = e.target.closest && e.target.closest('rect.b, line.hit');
    if (!el || (held && held.el === el)) return;
    restore();
    var title = el.querySelector('title');
    if (!title) return;
    var lines = title.textContent.split('\n');
    el.removeChild(title);
    held = { el: el, title: title };
    var more = lines.slice(1);
    if (el.matches('rect.b')) {
      var lane = +el.getAttribute('y'), t = +el.getAttribute('x') / W * D.span;
      more.push(laneName(lane) + 'started at +' + ms(Math.round(t)));
    }
    tip.innerHTML = '<b>' + esc(lines[0]) + '</b>' + esc(more.join('\n'));
    tip.hidden = false;
    if (el.matches('rect.b')) {
      var g = el.parentNode;
      g.classList.add('dim');
      Array.prototype.forEach.call(g.querySelectorAll('rect.b[data-i="' + el.getAttribute('data-i') + '"]'), function (r) { r.classList.add('hl'); });
    }
    place(e);
  });
  document.addEventListener('mouseout', function (e) {
    if (held && e.target === held.el) restore();
  });
  // The label of the lane a bar at height y is in ("w2 · "), from the lane labels' layout.
  function laneName(y) {
    var labels = document.querySelectorAll('.tlwrap .rows:not(.axisrow) .labels > div'), top = 0;
    for (var i = 0; i < labels.length; i++) {
      var h = labels[i].offsetHeight;
      if (y >= top && y < top + h && labels[i].classList.contains('lab')) return labels[i].textContent + ' · ';
      top += h;
    }
    return '';
  }
  function place(e) {
    if (tip.hidden) return;
    var x = e.clientX + 14, y = e.clientY + 16, r = tip.getBoundingClientRect();
    if (x + r.width > window.innerWidth - 8) x = e.clientX - r.width - 14;
    if (y + r.height > window.innerHeight - 8) y = e.clientY - r.height - 12;
    tip.style.left = Math.max(4, x) + 'px';
    tip.style.top = Math.max(4, y) + 'px';
  }
  document.addEventListener('mousemove', place);

  // ---- zoom: every chart shares one time window [a, b] in virtual units
  var charts = Array.prototype.slice.call(document.querySelectorAll('svg.zoomable'));
  var wrap = document.querySelector('.tlwrap');
  var brush = document.getElementById('brush');
  var unzoom = document.getElementById('unzoom');
  var view = [0, W];
  function ticks(lo, hi) {
    var steps = [1, 2, 5, 10, 20, 50, 100, 200, 250, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5, 18e5, 36e5, 72e5, 108e5, 216e5, 432e5];
    var span = Math.max(1, hi - lo), step = 864e5;
    for (var i = 0; i < steps.length; i++) { if (Math.floor(span / steps[i]) <= 7) { step = steps[i]; break; } }
    var out = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi; t += step) out.push([t, label(t, step)]);
    return out;
  }
  function label(t, step) {
    if (t === 0) return '0';
    if (step < 1000 && t < 1000) return t + 'ms';
    if (step < 1000) return +(t / 1000).toFixed(2) + 's';
    var h = Math.floor(t / 36e5), m = Math.floor(t / 6e4) % 60, s = Math.floor(t / 1e3) % 60;
    if (h === 0 && m === 0) return s + 's';
    if (h === 0) return s === 0 ? m + 'm' : m + 'm ' + String(s).padStart(2, '0') + 's';
    return m === 0 ? h + 'h' : h + 'h ' + String(m).padStart(2, '0') + 'm';
  }
  function redraw() {
    var a = view[0], b = view[1], k = W / (b - a);
    var lo = a / W * D.span, hi = b / W * D.span, tk = ticks(Math.max(0, Math.ceil(lo)), Math.floor(hi));
    var axis = document.querySelector('.axis');
    if (axis) {
      axis.innerHTML = tk.map(function (t) {
        var x = (t[0] / D.span * W - a) / (b - a) * 100;
        return '<span style="left:' + x.toFixed(2) + '%">' + esc(t[1]) + '</span>';
      }).join('');
    }
    charts.forEach(function (svg) {
      var h = svg.getAttribute('data-h');
      svg.setAttribute('viewBox', a + ' 0 ' + (b - a) + ' ' + h);
      var grid = svg.querySelector('g.grid');
      if (grid) {
        grid.innerHTML = tk.map(function (t) {
          var x = t[0] / D.span * W;
          return '<line x1="' + x + '" x2="' + x + '" y1="0" y2="' + h + '"/>';
        }).join('');
      }
      // Stripes are drawn in the stretched units: undo the stretch so they stay diagonal.
      var sx = svg.clientWidth / (b - a);
      if (sx > 0) {
        Array.prototype.forEach.call(svg.querySelectorAll('pattern.stripes'), function (p) {
          p.setAttribute('patternTransform', 'scale(' + (1 / sx) + ' 1) rotate(45)');
        });
      }
    });
    // Bars widened to stay visible are narrowed again as the window shrinks.
    Array.prototype.forEach.call(document.querySelectorAll('rect.b[data-w]'), function (r) {
      r.setAttribute('width', Math.max(+r.getAttribute('data-w'), MIN_BAR / k));
    });
    unzoom.hidden = a <= 0 && b >= W;
    barLabels();
  }
  // Test names on the bars that have room for one (at this zoom).
  var tl = document.querySelector('svg.tl'), overlay = document.querySelector('.blabels');
  var bars = tl ? Array.prototype.slice.call(tl.querySelectorAll('rect.b')) : [];
  function barLabels() {
    if (!overlay) return;
    var a = view[0], b = view[1], full = tl.getBoundingClientRect().width, sx = full / (b - a), html = [];
    for (var n = 0; n < bars.length; n++) {
      var r = bars[n], left = (+r.getAttribute('x') - a) * sx, width = +r.getAttribute('width') * sx;
      if (left + width < 0 || left > full) continue;
      if (left < 0) { width += left; left = 0; }
      if (width < 56) continue;
      var id = tests[+r.getAttribute('data-i')][C.ID], at = r.getAttribute('data-a');
      var dark = /\b(skip|flaky|requeued)\b/.test(r.getAttribute('class'));
      html.push('<span' + (dark ? ' class="dark"' : '') + ' style="left:' + left.toFixed(1) + 'px;width:' +
        width.toFixed(1) + 'px;top:' + r.getAttribute('y') + 'px;height:' + r.getAttribute('height') + 'px">' +
        esc(id.slice(id.lastIndexOf('/') + 1)) + (at ? ' #' + at : '') + '</span>');
    }
    overlay.innerHTML = html.join('');
  }
  function plotBox() { return document.querySelector('.tlwrap .plot svg').getBoundingClientRect(); }
  var drag = null;
  if (wrap) {
    wrap.addEventListener('mousedown', function (e) {
      if (e.button !== 0) return;
      var box = plotBox();
      if (e.clientX < box.left || e.clientX > box.right) return;
      drag = { x0: e.clientX, box: box, target: e.target };
      e.preventDefault();
    });
    window.addEventListener('mousemove', function (e) {
      if (!drag) return;
      var x = Math.min(Math.max(e.clientX, drag.box.left), drag.box.right), wb = wrap.getBoundingClientRect();
      var l = Math.min(x, drag.x0), r = Math.max(x, drag.x0);
      if (r - l < 4) { brush.hidden = true; return; }
      brush.hidden = false;
      brush.style.left = (l - wb.left) + 'px';
      brush.style.width = (r - l) + 'px';
    });
    window.addEventListener('mouseup', function (e) {
      if (!drag) return;
      var d = drag; drag = null; brush.hidden = true;
      var x = Math.min(Math.max(e.clientX, d.box.left), d.box.right);
      if (Math.abs(x - d.x0) < 4) {
        var bar = d.target.closest && d.target.closest('rect.b');
        if (bar) goto(+bar.getAttribute('data-i'));
        return;
      }
      var f = function (px) { return view[0] + (px - d.box.left) / d.box.width * (view[1] - view[0]); };
      var a = f(Math.min(x, d.x0)), b = f(Math.max(x, d.x0));
      if (b - a < 0.05) b = a + 0.05;
      view = [a, b];
      redraw();
    });
    wrap.addEventListener('dblclick', function () { view = [0, W]; redraw(); });
  }
  unzoom.addEventListener('click', function () { view = [0, W]; redraw(); });
  window.addEventListener('resize', redraw);
  redraw();

  // ---- the tests table
  var tbody = document.querySelector('#t tbody');
  var heads = Array.prototype.slice.call(document.querySelectorAll('#t th'));
  var q = document.getElementById('q');
  var chips = document.getElementById('chips');
  var more = document.getElementById('more');
  var sort = { key: 'status', dir: 1 };
  var only = {};
  var limit = PAGE;
  var cols = heads.length;

  function changes(h) {
    if (!h) return -1;
    var n = 0;
    for (var i = 1; i < h.length; i++) if (bad(h[i]) !== bad(h[i - 1])) n++;
    return n;
  }
  function bad(c) { return c === 'f' || c === 't' || c === 'o' || c === 'e' || c === 'l'; }
  function num(v) { return v == null ? -1 : v; }
  var keys = {
    status: function (t) { return RANK[t[C.ST]]; },
    id: function (t) { return t[C.ID]; },
    dur: function (t) { return num(t[C.DUR]); },
    peak: function (t) { return num(t[C.PEAK]); },
    cpu: function (t) { return num(t[C.CPU]); },
    att: function (t) { return t[C.ATT] + t[C.REQ]; },
    hist: function (t) { return changes(t[C.HIST]); }
  };
  function compare(i, j) {
    var a = tests[i], b = tests[j], k = keys[sort.key], x = k(a), y = k(b), r = 0;
    if (x < y) r = -1; else if (x > y) r = 1;
    if (r === 0 && sort.key !== 'id') r = a[C.ID] < b[C.ID] ? -1 : a[C.ID] > b[C.ID] ? 1 : 0;
    else r *= sort.dir;
    return r;
  }
  function strip(h) {
    if (!h) return '';
    var s = '<span class="strip" title="last ' + h.length + ' runs, oldest first">';
    for (var i = 0; i < h.length; i++) s += '<i class="' + (LETTER[h[i]] || 'skip') + '"></i>';
    return s + '</span>';
  }
  function selected() {
    var text = q.value.trim().toLowerCase(), any = Object.keys(only).length > 0, out = [];
    for (var i = 0; i < tests.length; i++) {
      var t = tests[i];
      if (any && !only[t[C.ST]]) continue;
      if (text && t[C.ID].toLowerCase().indexOf(text) < 0) continue;
      out.push(i);
    }
    return out.sort(compare);
  }
  function row(i) {
    var t = tests[i], st = t[C.ST], badges = '';
    if (t[C.SHARD]) badges += '<span class="badge">shard ' + t[C.SHARD] + '</span>';
    if (t[C.REQ]) badges += '<span class="badge">requeued ' + t[C.REQ] + '×</span>';
    if (t[C.LEAKS]) badges += '<span class="badge">left ' + t[C.LEAKS] + ' process' + (t[C.LEAKS] > 1 ? 'es' : '') + '</span>';
    if (t[C.CARRIED]) badges += '<span class="badge">carried over</span>';
    var why = t[C.WHY] && st !== 'pass' ? '<div class="note">' + esc(t[C.WHY]) + '</div>' : '';
    return '<tr class="row" data-i="' + i + '"><td><span class="chip ' + st + '">' + WORD[st] + '</span></td>' +
      '<td class="id"><code>' + esc(t[C.ID]) + '</code>' + badges + why + '</td>' +
      '<td class="num">' + ms(t[C.DUR]) + '</td><td class="num">' + bytes(t[C.PEAK]) + '</td>' +
      '<td class="num">' + ms(t[C.CPU]) + '</td><td class="num">' + t[C.ATT] + '</td>' +
      (D.history ? '<td>' + strip(t[C.HIST]) + '</td>' : '') + '</tr>';
  }
  function render() {
    var list = selected(), html = [];
    for (var n = 0; n < list.length && n < limit; n++) html.push(row(list[n]));
    tbody.innerHTML = html.join('') || '<tr><td colspan="' + cols + '" class="muted">No test matches.</td></tr>';
    more.innerHTML = list.length > limit ? '<button type="button">Show all ' + list.length + ' tests (' + (list.length - limit) + ' more)</button>' : '';
    heads.forEach(function (h) {
      if (h.getAttribute('data-k') === sort.key) h.setAttribute('aria-sort', sort.dir > 0 ? 'ascending' : 'descending');
      else h.removeAttribute('aria-sort');
    });
    Array.prototype.forEach.call(chips.children, function (b) { b.classList.toggle('on', !!only[b.getAttribute('data-s')]); });
  }
  function details(i) {
    var t = tests[i];
    if (t[C.CARD] >= 0) {
      var card = document.getElementById('c' + t[C.CARD]);
      if (card) return card.querySelector('.body').innerHTML;
    }
    var facts = [];
    if (t[C.WHY]) facts.push(['why', esc(t[C.WHY])]);
    facts.push(['attempts', t[C.ATT]]);
    if (t[C.REQ]) facts.push(['requeued', t[C.REQ]]);
    if (t[C.W] != null) facts.push(['worker', 'w' + t[C.W]]);
    if (t[C.PEAK] != null) facts.push(['peak memory', bytes(t[C.PEAK])]);
    if (t[C.CPU] != null) facts.push(['CPU time', ms(t[C.CPU])]);
    if (t[C.HIST]) facts.push(['history', strip(t[C.HIST])]);
    var html = '<dl class="facts">' + facts.map(function (f) { return '<div><dt>' + f[0] + '</dt><dd>' + f[1] + '</dd></div>'; }).join('') + '</dl>';
    var log = t[C.LOG];
    if (log) {
      if (log.charAt(0) === '+') log = (D.logDir || '') + log.slice(1);
      html += '<p class="log">full log: <code>' + esc(log) + '</code></p>';
    } else {
      html += '<p class="note">No output was captured.</p>';
    }
    return html;
  }
  function toggle(tr) {
    var next = tr.nextElementSibling;
    if (next && next.classList.contains('detail')) {
      next.remove();
      tr.classList.remove('open');
      return;
    }
    tr.classList.add('open');
    var d = document.createElement('tr');
    d.className = 'detail';
    d.innerHTML = '<td colspan="' + cols + '"><div class="body">' + details(+tr.getAttribute('data-i')) + '</div></td>';
    tr.after(d);
  }
  function goto(i) {
    q.value = tests[i][C.ID];
    only = {};
    limit = PAGE;
    render();
    var tr = tbody.querySelector('tr.row[data-i="' + i + '"]');
    if (!tr) return;
    if (!tr.classList.contains('open')) toggle(tr);
    tr.classList.add('flash');
    setTimeout(function () { tr.classList.remove('flash'); }, 1700);
    document.getElementById('tests').scrollIntoView({ behavior: 'smooth', block: 'start' });
  }

  var counts = {};
  tests.forEach(function (t) { counts[t[C.ST]] = (counts[t[C.ST]] || 0) + 1; });
  chips.innerHTML = Object.keys(RANK).filter(function (s) { return counts[s]; }).map(function (s) {
    return '<button type="button" class="' + s + '" data-s="' + s + '">' + WORD[s].toLowerCase() + ' ' + counts[s] + '</button>';
  }).join('');
  chips.addEventListener('click', function (e) {
    var b = e.target.closest('button');
    if (!b) return;
    var s = b.getAttribute('data-s');
    if (only[s]) delete only[s]; else only[s] = true;
    limit = PAGE;
    render();
  });
  q.addEventListener('input', function () { limit = PAGE; render(); });
  heads.forEach(function (h) {
    h.addEventListener('click', function () {
      var k = h.getAttribute('data-k');
      if (sort.key === k) sort.dir = -sort.dir;
      else sort = { key: k, dir: k === 'status' || k === 'id' ? 1 : -1 };
      render();
    });
  });
  tbody.addEventListener('click', function (e) {
    var tr = e.target.closest('tr.row');
    if (tr && !window.getSelection().toString()) toggle(tr);
  });
  more.addEventListener('click', function (e) {
    if (e.target.closest('button')) { limit = Infinity; render(); }
  });
  Array.prototype.forEach.call(document.querySelectorAll('a.tile[data-status]'), function (a) {
    a.addEventListener('click', function () {
      only = {};
      only[a.getAttribute('data-status')] = true;
      q.value = '';
      limit = PAGE;
      render();
    });
  });
  document.addEventListener('click', function (e) {
    var a = e.target.closest && e.target.closest('a.goto[data-i]');
    if (!a) return;
    e.preventDefault();
    goto(+a.getAttribute('data-i'));
  });
  // A link can carry a view of the table: report.html#q=api&status=fail,timeout&sort=dur
  location.hash.slice(1).split('&').forEach(function (part) {
    var kv = part.split('='), v = decodeURIComponent(kv[1] || '');
    if (kv[0] === 'q') q.value = v;
    if (kv[0] === 'status') v.split(',').forEach(function (s) { if (RANK[s] !== undefined) only[s] = true; });
    if (kv[0] === 'sort' && keys[v]) sort = { key: v, dir: v === 'status' || v === 'id' ? 1 : -1 };
  });
  render();
})();
