// graft report: confusion-matrix canvas, sortable per-class table, and a self-check
// (open the page with #selftest) that tests run in headless Chromium.
(function () {
  'use strict';
  const body = document.body;
  const data = JSON.parse(document.getElementById('report-data').textContent);
  const tooltip = document.getElementById('tooltip');

  function showTip(text, clientX, clientY) {
    tooltip.textContent = text;
    tooltip.hidden = false;
    const w = tooltip.offsetWidth, h = tooltip.offsetHeight;
    let x = clientX + 14, y = clientY + 14;
    if (x + w > window.innerWidth - 4) x = clientX - w - 14;
    if (y + h > window.innerHeight - 4) y = clientY - h - 14;
    tooltip.style.left = Math.max(4, x) + 'px';
    tooltip.style.top = Math.max(4, y) + 'px';
  }
  function hideTip() { tooltip.hidden = true; }
  function pct(x) { return (100 * x).toFixed(1) + '%'; }
  function mix(a, b, t) {
    return 'rgb(' + a.map((v, i) => Math.round(v + (b[i] - v) * t)).join(',') + ')';
  }

  // ---- confusion matrix -------------------------------------------------------------------
  function ConfusionMatrix(t) {
    const n = t.classes.length;
    const conf = t.confusion;
    const canvas = document.getElementById('matrix');
    const overlay = document.getElementById('matrix-overlay');
    const orderSel = document.getElementById('matrix-order');
    const scaleSel = document.getElementById('matrix-scale');
    const zoom = document.getElementById('matrix-zoom');
    const zoomValue = document.getElementById('matrix-zoom-value');
    const rowSum = conf.map(r => r.reduce((a, b) => a + b, 0));
    const errors = new Array(n).fill(0);
    let maxOff = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (i !== j && conf[i][j] > 0) {
          errors[i] += conf[i][j];
          errors[j] += conf[i][j];
          maxOff = Math.max(maxOff, conf[i][j]);
        }
      }
    }
    const byName = (a, b) => t.classes[a].localeCompare(t.classes[b]);
    const orders = {
      name: idx => idx.sort(byName),
      recall: idx => idx.sort((a, b) => (t.recall[a] - t.recall[b]) || byName(a, b)),
      errors: idx => idx.sort((a, b) => (errors[b] - errors[a]) || byName(a, b)),
      support: idx => idx.sort((a, b) => (t.support[b] - t.support[a]) || byName(a, b)),
    };
    const state = { order: [], cell: 16, left: 0, top: 0 };

    function fontFor(cell) { return Math.max(7, Math.min(13, cell - 2)); }
    // Width of the class labels at a cell size (none below 7 px: hover tells the names).
    function labelWidth(cell) {
      if (cell < 7) return 0;
      const ctx = canvas.getContext('2d');
      ctx.font = fontFor(cell) + 'px sans-serif';
      let w = 0;
      for (const c of t.classes) w = Math.max(w, ctx.measureText(c).width);
      return Math.min(w, 240) + 10;
    }
    // Start with the whole matrix as wide as its box (zoom in for detail).
    const avail = Math.max(300, document.getElementById('matrix-scroll').clientWidth - 4);
    for (let k = 0; k < 3; k++) {
      state.cell = Math.max(4, Math.min(32, Math.floor((avail - labelWidth(state.cell) - 36) / Math.max(n, 1))));
    }
    zoom.value = state.cell;

    const GOOD = [[234, 242, 251], [23, 84, 160]];
    const BAD = [[253, 226, 218], [165, 15, 21]];
    function color(i, j, v) {
      if (v === 0) return null;
      const share = rowSum[i] > 0 ? v / rowSum[i] : 0;
      if (i === j) return mix(GOOD[0], GOOD[1], 0.15 + 0.85 * share);
      const s = scaleSel.value === 'row' ? Math.sqrt(share)
        : (maxOff > 1 ? Math.log(1 + v) / Math.log(1 + maxOff) : 1);
      return mix(BAD[0], BAD[1], 0.2 + 0.8 * s);
    }

    function draw() {
      state.order = orders[orderSel.value](Array.from({ length: n }, (_, i) => i));
      const cell = state.cell;
      zoomValue.textContent = cell + ' px per cell';
      const labels = cell >= 7;
      const font = fontFor(cell);
      const ctx = canvas.getContext('2d');
      const labelW = labelWidth(cell);
      const left = labelW + 24, top = labelW + 24;
      state.left = left; state.top = top;
      const w = left + n * cell + 12, h = top + n * cell + 12;
      const dpr = window.devicePixelRatio || 1;
      for (const cv of [canvas, overlay]) {
        cv.width = Math.round(w * dpr); cv.height = Math.round(h * dpr);
        cv.style.width = w + 'px'; cv.style.height = h + 'px';
      }
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.fillStyle = '#fff';
      ctx.fillRect(0, 0, w, h);
      for (let r = 0; r < n; r++) {
        const i = state.order[r];
        for (let c = 0; c < n; c++) {
          const j = state.order[c];
          const col = color(i, j, conf[i][j]);
          if (col) {
            ctx.fillStyle = col;
            ctx.fillRect(left + c * cell, top + r * cell, cell, cell);
          }
        }
      }
      if (cell >= 5) {
        ctx.strokeStyle = 'rgba(0,0,0,0.06)';
        ctx.lineWidth = 1;
        ctx.beginPath();
        for (let k = 0; k <= n; k++) {
          ctx.moveTo(left + k * cell + 0.5, top); ctx.lineTo(left + k * cell + 0.5, top + n * cell);
          ctx.moveTo(left, top + k * cell + 0.5); ctx.lineTo(left + n * cell, top + k * cell + 0.5);
        }
        ctx.stroke();
      }
      ctx.strokeStyle = '#9aa3b2';
      ctx.strokeRect(left + 0.5, top + 0.5, n * cell, n * cell);
      if (cell >= 18) {
        ctx.textAlign = 'center'; ctx.textBaseline = 'middle';
        ctx.font = Math.min(12, cell - 6) + 'px sans-serif';
        for (let r = 0; r < n; r++) {
          for (let c = 0; c < n; c++) {
            const i = state.order[r], j = state.order[c], v = conf[i][j];
            if (!v) continue;
            const share = rowSum[i] ? v / rowSum[i] : 0;
            ctx.fillStyle = (i === j ? share > 0.45 : true) ? '#fff' : '#1d2330';
            if (i !== j && maxOff > 1 && Math.log(1 + v) / Math.log(1 + maxOff) < 0.5) ctx.fillStyle = '#1d2330';
            ctx.fillText(String(v), left + c * cell + cell / 2, top + r * cell + cell / 2 + 0.5);
          }
        }
      }
      ctx.fillStyle = '#1d2330';
      ctx.font = font + 'px sans-serif';
      if (labels) {
        ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
        for (let r = 0; r < n; r++) {
          ctx.fillText(clip(ctx, t.classes[state.order[r]], labelW - 10), left - 5, top + r * cell + cell / 2);
        }
        for (let c = 0; c < n; c++) {
          ctx.save();
          ctx.translate(left + c * cell + cell / 2, top - 5);
          ctx.rotate(-Math.PI / 2);
          ctx.textAlign = 'left';
          ctx.fillText(clip(ctx, t.classes[state.order[c]], labelW - 10), 0, 0);
          ctx.restore();
        }
      }
      // Axis titles: above the columns, and left of the rows reading upwards.
      ctx.font = '600 13px sans-serif'; ctx.fillStyle = '#5d6677';
      ctx.textAlign = 'center'; ctx.textBaseline = 'top';
      ctx.fillText('predicted class →', left + Math.min(n * cell, 900) / 2, 4);
      ctx.save();
      ctx.translate(4, top + Math.min(n * cell, 900) / 2); ctx.rotate(-Math.PI / 2);
      ctx.fillText('← true class', 0, 0);
      ctx.restore();
      canvas.setAttribute('data-drawn', String(n));
      clearOverlay();
    }

    function clip(ctx, text, width) {
      if (ctx.measureText(text).width <= width) return text;
      let s = text;
      while (s.length > 1 && ctx.measureText(s + '…').width > width) s = s.slice(0, -1);
      return s + '…';
    }

    function clearOverlay() {
      const o = overlay.getContext('2d');
      o.setTransform(1, 0, 0, 1, 0, 0);
      o.clearRect(0, 0, overlay.width, overlay.height);
    }

    function highlight(r, c) {
      clearOverlay();
      const o = overlay.getContext('2d');
      const dpr = window.devicePixelRatio || 1;
      o.setTransform(dpr, 0, 0, dpr, 0, 0);
      const cell = state.cell, left = state.left, top = state.top;
      o.fillStyle = 'rgba(31,119,180,0.10)';
      if (r >= 0) o.fillRect(0, top + r * cell, left + n * cell, cell);
      if (c >= 0) o.fillRect(left + c * cell, 0, cell, top + n * cell);
      if (r >= 0 && c >= 0) {
        o.strokeStyle = '#111'; o.lineWidth = 1.5;
        o.strokeRect(left + c * cell - 0.5, top + r * cell - 0.5, cell + 1, cell + 1);
      }
    }

    function describe(r, c) {
      const i = state.order[r], j = state.order[c], v = conf[i][j];
      const share = rowSum[i] ? ' (' + pct(v / rowSum[i]) + ' of ' + t.classes[i] + ')' : '';
      return t.classes[i] + ' → ' + t.classes[j] + ': ' + v + share;
    }

    canvas.addEventListener('mousemove', ev => {
      const rect = canvas.getBoundingClientRect();
      const x = ev.clientX - rect.left, y = ev.clientY - rect.top;
      const c = Math.floor((x - state.left) / state.cell), r = Math.floor((y - state.top) / state.cell);
      const inC = c >= 0 && c < n, inR = r >= 0 && r < n;
      if (inR && inC) {
        highlight(r, c);
        showTip(describe(r, c), ev.clientX, ev.clientY);
      } else if (inR && x < state.left) {
        const i = state.order[r];
        highlight(r, -1);
        showTip('true ' + t.classes[i] + ': ' + rowSum[i] + ' images, recall ' + pct(t.recall[i]), ev.clientX, ev.clientY);
      } else if (inC && y < state.top) {
        const j = state.order[c];
        let predicted = 0;
        for (let i = 0; i < n; i++) predicted += conf[i][j];
        highlight(-1, c);
        showTip('predicted ' + t.classes[j] + ': ' + predicted + ' images', ev.clientX, ev.clientY);
      } else {
        clearOverlay(); hideTip();
      }
    });
    canvas.addEventListener('mouseleave', () => { clearOverlay(); hideTip(); });
    orderSel.addEventListener('change', draw);
    scaleSel.addEventListener('change', draw);
    zoom.addEventListener('input', () => { state.cell = +zoom.value; draw(); });
    draw();
    return {
      describe,
      cellCenter(r, c) {
        const rect = canvas.getBoundingClientRect();
        return [rect.left + state.left + (c + 0.5) * state.cell, rect.top + state.top + (r + 0.5) * state.cell];
      },
      order: () => state.order,
    };
  }

  // ---- sortable, filterable per-class table -------------------------------------------------
  function sortableTable(table, filter) {
    const tbody = table.tBodies[0];
    const heads = Array.from(table.tHead.rows[0].cells).filter(th => th.dataset.key);
    for (const th of heads) {
      th.title = 'sort by ' + th.textContent;
      th.addEventListener('click', () => {
        const asc = !th.classList.contains('asc');
        heads.forEach(h => h.classList.remove('asc', 'desc'));
        th.classList.add(asc ? 'asc' : 'desc');
        const k = th.cellIndex, text = th.dataset.type === 'text';
        const rows = Array.from(tbody.rows);
        rows.sort((a, b) => {
          const x = a.cells[k].dataset.value, y = b.cells[k].dataset.value;
          const d = text ? x.localeCompare(y) : parseFloat(x) - parseFloat(y);
          return (asc ? d : -d) || (+a.dataset.index - +b.dataset.index);
        });
        const frag = document.createDocumentFragment();
        rows.forEach(r => frag.appendChild(r));
        tbody.appendChild(frag);
      });
    }
    if (filter) {
      filter.addEventListener('input', () => {
        const q = filter.value.trim().toLowerCase();
        for (const row of tbody.rows) row.hidden = q !== '' && !row.cells[0].textContent.toLowerCase().includes(q);
      });
    }
  }

  // ---- self-check: what a person would do, checked -------------------------------------------
  function selftest(matrix) {
    const problems = [];
    const table = document.getElementById('per-class');
    if (table) {
      const values = k => Array.from(table.tBodies[0].rows).map(r => r.cells[k].dataset.value);
      const th = table.querySelector('th[data-key=f1]');
      th.click();
      let v = values(th.cellIndex).map(Number);
      if (!v.every((x, i) => i === 0 || v[i - 1] <= x)) problems.push('F1 not ascending after one click');
      th.click();
      v = values(th.cellIndex).map(Number);
      if (!v.every((x, i) => i === 0 || v[i - 1] >= x)) problems.push('F1 not descending after two clicks');
      const name = table.querySelector('th[data-key=class]');
      name.click();
      const names = values(name.cellIndex);
      if (!names.every((x, i) => i === 0 || names[i - 1].localeCompare(x) <= 0)) problems.push('classes not sorted by name');
      const filter = document.getElementById('class-filter');
      filter.value = '\u0000no such class';
      filter.dispatchEvent(new Event('input'));
      if (Array.from(table.tBodies[0].rows).some(r => !r.hidden)) problems.push('filter hid nothing');
      filter.value = '';
      filter.dispatchEvent(new Event('input'));
      if (Array.from(table.tBodies[0].rows).some(r => r.hidden)) problems.push('clearing the filter left rows hidden');
    }
    if (matrix) {
      // The most frequent confusion (or the first cell when there is none).
      const t = data.test, order = matrix.order();
      let r = 0, c = 0, most = 0;
      for (let a = 0; a < order.length; a++) {
        for (let b = 0; b < order.length; b++) {
          const v = t.confusion[order[a]][order[b]];
          if (a !== b && v > most) { most = v; r = a; c = b; }
        }
      }
      const [x, y] = matrix.cellCenter(r, c);
      document.getElementById('matrix').dispatchEvent(new MouseEvent('mousemove', { clientX: x, clientY: y, bubbles: true }));
      const i = order[r], j = order[c];
      const expected = t.classes[i] + ' → ' + t.classes[j] + ': ' + t.confusion[i][j];
      if (tooltip.hidden || !tooltip.textContent.startsWith(expected)) {
        problems.push('tooltip "' + tooltip.textContent + '" is not "' + expected + '"');
      }
      body.setAttribute('data-tooltip', tooltip.textContent);
      document.getElementById('matrix').dispatchEvent(new MouseEvent('mouseleave'));
    }
    body.setAttribute('data-selftest', problems.length ? 'fail: ' + problems.join('; ') : 'ok');
  }

  let matrix = null;
  if (data.test) matrix = ConfusionMatrix(data.test);
  const table = document.getElementById('per-class');
  if (table) sortableTable(table, document.getElementById('class-filter'));

  window.addEventListener('load', () => {
    const broken = Array.from(document.images).filter(img => !img.complete || img.naturalWidth === 0);
    body.setAttribute('data-images', String(document.images.length));
    body.setAttribute('data-broken-images', String(broken.length));
    if (location.hash === '#selftest') {
      try { selftest(matrix); } catch (e) { body.setAttribute('data-selftest', 'fail: ' + e); throw e; }
    }
    body.setAttribute('data-ready', '1');
  });
})();
