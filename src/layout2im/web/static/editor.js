// layout2im layout editor: boxes on a canvas -> POST /api/generate -> images.
// Plain browser JavaScript, no build step, no dependencies. Model logic lives on the server.
//
// Every object has an identity `id` sent with the layout: the server draws an object's code
// from (seed, sample, id), so editing one object never changes another's look. "Resample"
// gives the object a new id (base id + a counter), "Lock" sends the code it has in the selected
// variation as its `z`, and "Style…" sends the code the server encodes from a reference photo.
"use strict";

(() => {
  const DEBOUNCE_MS = 120;
  const MIN_SIZE = 0.02; // smallest box side while drawing, normalised
  const MIN_MODEL_PX = 4; // smallest box side in the model's pixels: smaller shows nothing
  const HANDLE_PX = 7;
  // The server takes seeds 0 .. 2^63 - 1. Seeds are BigInts: a Number rounds them above 2^53.
  const SEED_LIMIT = 2n ** 63n;

  const $ = (sel, root = document) => root.querySelector(sel);
  const canvas = $("#canvas");
  const ctx = canvas.getContext("2d");

  const state = {
    info: null,
    categories: [], // the names a person picks from (in group order when grouped)
    groups: null, // [{name, categories}] or null
    objects: [], // {key, baseId, salt, category (null: not picked yet), box, z, seed, style, styleRef}
    selected: null, // key of the selected object
    nextKey: 1, // row keys (internal)
    nextId: 1, // numbers for new object ids o1, o2, ...
    seed: 0n, // the call seed (a BigInt)
    numSamples: 4,
    sample: 0, // selected variation
    result: null, // last /api/generate answer
    masks: [], // per sample, per object in the layout sent: Image of the object's mask
    imageZ: null, // the locked image code (architectures with one), or null
    resultKey: null, // the request it answered (JSON)
    resultSeed: null, // the seed of that request (a BigInt; the answer's `seed` is a Number)
    images: [], // HTMLImageElement per sample of `result`
    generation: 0, // answers applied so far
  };

  // -- utilities ---------------------------------------------------------------------------

  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  const round4 = (v) => Math.round(v * 1e4) / 1e4;

  function categoryColor(name) {
    if (name === null) return "hsl(0, 0%, 55%)";
    const i = Math.max(0, state.categories.indexOf(name));
    const hue = ((i * 0.618034) % 1) * 360;
    return `hsl(${hue.toFixed(0)}, 80%, 50%)`;
  }

  function sentId(obj) {
    return obj.salt === 0 ? obj.baseId : `${obj.baseId}~${obj.salt}`;
  }

  function freshBaseId() {
    const used = new Set(state.objects.map((o) => String(o.baseId)));
    let id;
    do {
      id = `o${state.nextId++}`;
    } while (used.has(id));
    return id;
  }

  function find(key) {
    return state.objects.find((o) => o.key === key) || null;
  }

  function isLocked(obj) {
    return obj.z !== null || obj.seed !== null || obj.styleRef !== null;
  }

  function showError(message) {
    $("#error").textContent = message || "";
    document.body.dataset.error = message ? "1" : "";
  }

  // A notice about the user's last action (not a server error): stays until the next one.
  function showNotice(message) {
    $("#notice").textContent = message || "";
  }

  // The smallest box side (normalised) the model's image shows: MIN_MODEL_PX of its pixels.
  function minSide() {
    const size = state.info ? state.info.image_size : 64;
    return Math.max(MIN_SIZE, MIN_MODEL_PX / size);
  }

  // Objects whose category is picked: only these are sent to the model.
  function placed() {
    return state.objects.filter((o) => o.category !== null);
  }

  async function api(path, options = {}) {
    const response = await fetch(path, options);
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      const message = body && body.error ? body.error : `HTTP ${response.status}`;
      const error = new Error(message);
      error.field = body ? body.field : null;
      throw error;
    }
    return body;
  }

  function download(filename, href) {
    const a = document.createElement("a");
    a.href = href;
    a.download = filename;
    document.body.appendChild(a);
    a.click();
    a.remove();
  }

  function downloadBlob(filename, blob) {
    const url = URL.createObjectURL(blob);
    download(filename, url);
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  // The seed in `text` as a BigInt, or null when it is not a whole number the server takes.
  function parseSeed(text) {
    const digits = text.trim();
    if (!/^[0-9]+$/.test(digits)) return null;
    const seed = BigInt(digits);
    return seed < SEED_LIMIT ? seed : null;
  }

  // Whether the model's image is shown (and scaled for download) as squares of its pixels
  // (nearest neighbour) rather than smoothly (bilinear).
  function pixelExact() {
    return $("#pixel-exact").checked;
  }

  // -- the layout sent to the server --------------------------------------------------------

  function hasCapability(name) {
    return Boolean(state.info && (state.info.capabilities || []).includes(name));
  }

  function layoutJson() {
    const layout = {
      objects: placed().map((o) => {
        const out = { id: sentId(o), category: o.category, box: o.box.map(round4) };
        if (o.z !== null) out.z = o.z;
        else if (o.seed !== null) out.seed = o.seed;
        else if (o.styleRef !== null) out.style = o.styleRef;
        return out;
      }),
    };
    if (state.imageZ !== null) layout.image_z = state.imageZ;
    return layout;
  }

  // -- generation: debounced, one request in flight, the latest edit always wins -------------

  let timer = null;
  let inFlight = false;
  let pending = false;

  function scheduleGenerate(delay = DEBOUNCE_MS) {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      generate();
    }, delay);
  }

  // The body of a generate request. JSON.stringify writes numbers as doubles, exact only up to
  // 2^53: the seed goes in as its digits, so every seed the server takes arrives as typed.
  function requestBody() {
    const rest = JSON.stringify({ layout: layoutJson(), num_samples: state.numSamples });
    return `${rest.slice(0, -1)},"seed":${state.seed}}`;
  }

  // True when the images on screen are those of the current layout and settings.
  function settled() {
    if (inFlight || timer !== null) return false;
    if (placed().length === 0) return state.result === null;
    return state.resultKey === requestBody();
  }

  async function generate() {
    if (inFlight) {
      pending = true;
      return;
    }
    if (placed().length === 0) {
      state.result = null;
      state.resultKey = null;
      state.images = [];
      renderVariations();
      draw();
      $("#timing").textContent = "";
      showError("");
      return;
    }
    inFlight = true;
    pending = false;
    document.body.dataset.busy = "1";
    const key = requestBody();
    const seed = state.seed;
    const started = performance.now();
    try {
      const result = await api("/api/generate", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: key,
      });
      const roundTrip = performance.now() - started;
      await applyResult(result, key, seed);
      const t = result.timing;
      $("#timing").textContent =
        `${result.images.length} image${result.images.length === 1 ? "" : "s"} ` +
        `generated in ${t.generate_ms.toFixed(1)} ms · ${roundTrip.toFixed(0)} ms round trip`;
      document.body.dataset.generateMs = String(t.generate_ms);
      document.body.dataset.roundTripMs = roundTrip.toFixed(1);
      showError((result.warnings || []).join(" ")); // e.g. more objects than trained with
    } catch (error) {
      showError(error.message);
      highlightField(error.field);
    } finally {
      inFlight = false;
      document.body.dataset.busy = "";
      if (pending) generate();
    }
  }

  function loadImage(src) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error("the server sent an unreadable image"));
      img.src = src;
    });
  }

  async function applyResult(result, key, seed) {
    const images = await Promise.all(
      result.images.map((b64) => loadImage(`data:image/png;base64,${b64}`)),
    );
    state.masks = result.masks
      ? await Promise.all(
          result.masks.map((row) =>
            Promise.all(row.map((b64) => loadImage(`data:image/png;base64,${b64}`))),
          ),
        )
      : [];
    state.result = result;
    state.resultKey = key;
    state.resultSeed = seed;
    state.images = images;
    state.sample = Math.min(state.sample, images.length - 1);
    state.generation += 1;
    renderVariations();
    renderObjects();
    draw();
    document.body.dataset.generation = String(state.generation);
  }

  function highlightField(field) {
    const match = /objects\[(\d+)\]/.exec(field || "");
    if (!match) return;
    const obj = placed()[Number(match[1])]; // the index in the layout sent
    if (obj) {
      state.selected = obj.key;
      renderObjects();
      draw();
    }
  }

  // -- drawing the canvas --------------------------------------------------------------------

  function draw() {
    const w = canvas.width;
    const h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    const img = state.images[state.sample];
    if (img) {
      ctx.imageSmoothingEnabled = !pixelExact();
      ctx.drawImage(img, 0, 0, w, h);
      drawMask(w, h);
    } else {
      ctx.fillStyle = "#f4f4f2";
      ctx.fillRect(0, 0, w, h);
      ctx.fillStyle = "#9a9a95";
      ctx.font = "16px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.fillText(state.objects.length ? "generating…" : "drag to draw a box", w / 2, h / 2);
      ctx.textAlign = "start";
    }
    if (!$("#show-boxes").checked && drag === null) return;
    for (const obj of state.objects) {
      const [x0, y0, x1, y1] = obj.box.map((v, i) => v * (i % 2 === 0 ? w : h));
      const selected = obj.key === state.selected;
      const color = categoryColor(obj.category);
      ctx.lineWidth = selected ? 3 : 2;
      ctx.setLineDash(obj.category === null ? [6, 4] : []);
      ctx.strokeStyle = "rgba(0,0,0,0.55)";
      ctx.strokeRect(x0 + 1, y0 + 1, x1 - x0, y1 - y0);
      ctx.strokeStyle = color;
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
      ctx.setLineDash([]);
      const name = obj.category === null ? "pick a category" : obj.category;
      const label = `${state.objects.indexOf(obj)}: ${name}${isLocked(obj) ? " (locked)" : ""}`;
      ctx.font = "13px system-ui, sans-serif";
      const tw = ctx.measureText(label).width;
      const lx = x0 + (selected ? HANDLE_PX + 2 : 0); // clear of the corner handle
      ctx.fillStyle = color;
      ctx.fillRect(lx, Math.max(0, y0 - 18), tw + 8, 18);
      ctx.fillStyle = "#fff";
      ctx.fillText(label, lx + 4, Math.max(0, y0 - 18) + 13);
      if (selected) {
        ctx.fillStyle = "#fff";
        ctx.strokeStyle = color;
        ctx.lineWidth = 2;
        for (const [hx, hy] of corners(obj.box)) {
          ctx.fillRect(hx * w - HANDLE_PX, hy * h - HANDLE_PX, HANDLE_PX * 2, HANDLE_PX * 2);
          ctx.strokeRect(hx * w - HANDLE_PX, hy * h - HANDLE_PX, HANDLE_PX * 2, HANDLE_PX * 2);
        }
      }
    }
  }

  // The selected object's mask over the image: the object bright, the rest dimmed.
  function drawMask(w, h) {
    if (!$("#show-mask").checked) return;
    const index = placed().findIndex((o) => o.key === state.selected);
    const mask = (state.masks[state.sample] || [])[index];
    if (!mask) return;
    const layer = document.createElement("canvas");
    layer.width = mask.naturalWidth;
    layer.height = mask.naturalHeight;
    const lctx = layer.getContext("2d");
    lctx.drawImage(mask, 0, 0);
    const pixels = lctx.getImageData(0, 0, layer.width, layer.height);
    for (let i = 0; i < pixels.data.length; i += 4) {
      const level = pixels.data[i];
      pixels.data[i] = pixels.data[i + 1] = pixels.data[i + 2] = 0;
      pixels.data[i + 3] = Math.round(0.7 * (255 - level));
    }
    lctx.putImageData(pixels, 0, 0);
    ctx.drawImage(layer, 0, 0, w, h);
  }

  function corners(box) {
    const [x0, y0, x1, y1] = box;
    return [
      [x0, y0],
      [x1, y0],
      [x0, y1],
      [x1, y1],
    ];
  }

  // -- mouse editing on the canvas -------------------------------------------------------------

  let drag = null; // {mode: "draw"|"move"|"resize", key, start, box, corner}

  function pointer(event) {
    const rect = canvas.getBoundingClientRect();
    return [
      clamp((event.clientX - rect.left) / rect.width, 0, 1),
      clamp((event.clientY - rect.top) / rect.height, 0, 1),
    ];
  }

  function hitTest([x, y]) {
    const rect = canvas.getBoundingClientRect();
    const tol = (HANDLE_PX + 2) / rect.width;
    const selected = find(state.selected);
    if (selected) {
      const c = corners(selected.box).findIndex(
        ([cx, cy]) => Math.abs(cx - x) <= tol && Math.abs(cy - y) <= tol,
      );
      if (c >= 0) return { mode: "resize", obj: selected, corner: c };
    }
    for (let i = state.objects.length - 1; i >= 0; i--) {
      const obj = state.objects[i];
      const [x0, y0, x1, y1] = obj.box;
      if (x >= x0 && x <= x1 && y >= y0 && y <= y1) return { mode: "move", obj };
    }
    return null;
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    canvas.focus();
    canvas.setPointerCapture(event.pointerId);
    const p = pointer(event);
    const hit = hitTest(p);
    if (hit) {
      state.selected = hit.obj.key;
      drag = { mode: hit.mode, key: hit.obj.key, start: p, box: [...hit.obj.box], corner: hit.corner };
    } else {
      drag = { mode: "draw", key: null, start: p, box: null };
    }
    renderObjects();
    draw();
  });

  canvas.addEventListener("pointermove", (event) => {
    const p = pointer(event);
    if (drag === null) {
      const hit = hitTest(p);
      canvas.style.cursor = hit ? (hit.mode === "resize" ? "nwse-resize" : "move") : "crosshair";
      return;
    }
    const [sx, sy] = drag.start;
    const [px, py] = p;
    if (drag.mode === "draw") {
      if (Math.abs(px - sx) < MIN_SIZE || Math.abs(py - sy) < MIN_SIZE) return;
      if (drag.key === null) {
        const limit = state.info ? state.info.max_objects_accepted : Infinity;
        if (state.objects.length >= limit) {
          showError(`this model takes at most ${limit} objects: delete one first`);
          drag = null;
          return;
        }
        const obj = addObject([0, 0, 1, 1]);
        drag.key = obj.key;
      }
      const obj = find(drag.key);
      obj.box = [Math.min(sx, px), Math.min(sy, py), Math.max(sx, px), Math.max(sy, py)];
    } else if (drag.mode === "move") {
      const obj = find(drag.key);
      const [x0, y0, x1, y1] = drag.box;
      const dx = clamp(px - sx, -x0, 1 - x1);
      const dy = clamp(py - sy, -y0, 1 - y1);
      obj.box = [x0 + dx, y0 + dy, x1 + dx, y1 + dy];
    } else if (drag.mode === "resize") {
      const obj = find(drag.key);
      let [x0, y0, x1, y1] = drag.box;
      const m = minSide();
      if (drag.corner === 0 || drag.corner === 2) x0 = Math.min(px, x1 - m);
      else x1 = Math.max(px, x0 + m);
      if (drag.corner === 0 || drag.corner === 1) y0 = Math.min(py, y1 - m);
      else y1 = Math.max(py, y0 + m);
      obj.box = [x0, y0, x1, y1].map((v) => clamp(v, 0, 1));
    }
    draw();
    scheduleGenerate();
  });

  // Grow a box smaller than the model shows to minSide() around its centre (inside the canvas).
  // Returns true when it was grown.
  function ensureVisible(obj) {
    const m = minSide();
    let [x0, y0, x1, y1] = obj.box;
    if (x1 - x0 >= m - 1e-9 && y1 - y0 >= m - 1e-9) return false;
    const grow = (a, b) => {
      if (b - a >= m) return [a, b];
      const lo = clamp((a + b) / 2 - m / 2, 0, 1 - m);
      return [lo, lo + m];
    };
    [x0, x1] = grow(x0, x1);
    [y0, y1] = grow(y0, y1);
    obj.box = [x0, y0, x1, y1];
    return true;
  }

  function endDrag() {
    if (drag === null) return;
    const created = drag.mode === "draw" && drag.key !== null;
    if (created) {
      const obj = find(drag.key);
      if (obj && ensureVisible(obj)) {
        const size = state.info ? state.info.image_size : 64;
        showNotice(
          `box ${state.objects.indexOf(obj)} was enlarged to ${MIN_MODEL_PX} px of the ` +
            `model's ${size}×${size} image: smaller boxes show nothing`,
        );
      } else {
        showNotice("");
      }
    }
    drag = null;
    renderObjects();
    draw();
    if (created) {
      const input = $(`#objects li[data-key="${state.selected}"] input.category`);
      if (input) input.focus();
    }
    scheduleGenerate(0);
  }

  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);

  canvas.addEventListener("keydown", (event) => {
    if ((event.key === "Delete" || event.key === "Backspace") && state.selected !== null) {
      removeObject(state.selected);
      event.preventDefault();
    } else if (event.key === "Escape") {
      state.selected = null;
      renderObjects();
      draw();
    }
  });

  // -- objects -------------------------------------------------------------------------------

  // A new object: its category is the one given (a loaded layout), else none until the user
  // picks one (it is not sent to the model before).
  function addObject(box, fields = {}) {
    const category = fields.category !== undefined ? fields.category : null;
    const obj = {
      key: state.nextKey++,
      baseId: fields.baseId !== undefined ? fields.baseId : null,
      salt: 0,
      category,
      box,
      z: fields.z || null,
      seed: fields.seed !== undefined ? fields.seed : null,
      styleRef: fields.styleRef || null,
      style: null, // {file, box, thumb} when the look came from an uploaded photo
    };
    if (obj.baseId === null) obj.baseId = freshBaseId();
    state.objects.push(obj);
    state.selected = obj.key;
    return obj;
  }

  function removeObject(key) {
    state.objects = state.objects.filter((o) => o.key !== key);
    if (state.selected === key) state.selected = null;
    renderObjects();
    draw();
    scheduleGenerate(0);
  }

  function unlock(obj) {
    obj.z = null;
    obj.seed = null;
    obj.styleRef = null;
    obj.style = null;
  }

  function resample(obj) {
    unlock(obj);
    obj.salt += 1;
    renderObjects();
    scheduleGenerate(0);
  }

  function toggleLock(obj) {
    if (isLocked(obj)) {
      unlock(obj);
    } else {
      const r = state.result;
      const j = r ? r.ids.findIndex((id) => id === sentId(obj)) : -1;
      if (j < 0) {
        showError("wait for the image of this object before locking it");
        return;
      }
      obj.z = r.latents[state.sample][j];
    }
    renderObjects();
    scheduleGenerate(0);
  }

  async function setCategory(obj, name) {
    obj.category = name;
    if (obj.style) {
      // The code depends on the category (class-conditional estimator): encode again.
      try {
        obj.z = await encodeStyle(obj.style.file, obj.style.box, name);
      } catch (error) {
        showError(error.message);
      }
    }
    renderObjects();
    draw();
    scheduleGenerate(0);
  }

  function renderObjects() {
    const list = $("#objects");
    const template = $("#object-template");
    $("#count").textContent = state.objects.length
      ? `${state.objects.length} / ${state.info ? state.info.max_objects : "?"}`
      : "";
    $("#no-objects").hidden = state.objects.length > 0;
    const live = new Set(state.objects.map((o) => o.key));
    for (const li of [...list.children]) if (!live.has(Number(li.dataset.key))) li.remove();
    const existing = new Map([...list.children].map((li) => [Number(li.dataset.key), li]));
    state.objects.forEach((obj, index) => {
      let li = existing.get(obj.key);
      if (!li) {
        li = template.content.firstElementChild.cloneNode(true);
        li.dataset.key = String(obj.key);
        wireObject(li, obj.key);
      }
      // Keep the list in layout order without moving rows that are in place (moving a row
      // would take the focus from its category input while the user types).
      if (list.children[index] !== li) list.insertBefore(li, list.children[index] || null);
      li.dataset.index = String(index);
      li.classList.toggle("selected", obj.key === state.selected);
      $(".swatch", li).style.background = categoryColor(obj.category);
      $(".swatch", li).textContent = String(index);
      const input = $("input.category", li);
      if (document.activeElement !== input) input.value = obj.category || "";
      li.classList.toggle("unpicked", obj.category === null);
      const lock = $("button.lock", li);
      const locked = isLocked(obj);
      lock.setAttribute("aria-pressed", String(locked));
      lock.textContent = locked ? "Locked" : "Lock";
      $("button.style", li).hidden = !hasCapability("style");
      const thumb = $(".style-thumb", li);
      thumb.hidden = !obj.style;
      if (obj.style) thumb.src = obj.style.thumb;
    });
  }

  function wireObject(li, key) {
    li.addEventListener("pointerdown", () => {
      if (state.selected !== key) {
        state.selected = key;
        renderObjects();
        draw();
      }
    });
    $("button.resample", li).addEventListener("click", () => resample(find(key)));
    $("button.lock", li).addEventListener("click", () => toggleLock(find(key)));
    $("button.remove", li).addEventListener("click", () => removeObject(key));
    $("button.style", li).addEventListener("click", () => openStyleDialog(find(key)));
    wireCombo(li, key);
  }

  // -- the category combobox: type to filter ---------------------------------------------------

  function wireCombo(li, key) {
    const input = $("input.category", li);
    const list = $("ul.options", li);
    let matches = [];
    let active = 0;
    let query = ""; // the filter: the typed text, "" until the user types

    // Matches of a query in picking order: per group, names starting with it, then names
    // containing it. An empty query lists every category.
    function search(q) {
      const groups = state.groups || [{ name: null, categories: state.categories }];
      return groups.map((g) => {
        const starts = g.categories.filter((c) => c.toLowerCase().startsWith(q));
        const contains = g.categories.filter(
          (c) => !c.toLowerCase().startsWith(q) && c.toLowerCase().includes(q),
        );
        return { name: g.name, names: [...starts, ...contains] };
      });
    }

    // The list for `query` (the typed text; "" right after focusing: every category, the
    // object's own one highlighted and in view).
    function show() {
      const q = query.trim().toLowerCase();
      const groups = search(q);
      matches = groups.flatMap((g) => g.names);
      active = clamp(active, 0, Math.max(0, matches.length - 1));
      const items = [];
      let i = 0;
      for (const g of groups) {
        if (g.names.length === 0) continue;
        if (g.name !== null) {
          const header = document.createElement("li");
          header.className = "group";
          header.setAttribute("role", "presentation");
          header.textContent = g.name;
          items.push(header);
        }
        for (const name of g.names) {
          const option = document.createElement("li");
          option.textContent = name;
          option.setAttribute("role", "option");
          option.dataset.value = name;
          option.classList.toggle("active", i === active);
          option.addEventListener("mousedown", (event) => {
            event.preventDefault(); // keep focus until chosen
            choose(name);
          });
          items.push(option);
          i += 1;
        }
      }
      if (matches.length === 0) {
        const none = document.createElement("li");
        none.className = "none";
        none.textContent = `no category matches “${query.trim()}”`;
        items.push(none);
      }
      list.replaceChildren(...items);
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      const current = list.querySelector("li.active");
      if (current) current.scrollIntoView({ block: "nearest" });
    }

    function hide() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
    }

    function choose(name) {
      hide();
      input.value = name;
      input.blur();
      showNotice("");
      const obj = find(key);
      if (obj && obj.category !== name) setCategory(obj, name);
    }

    // Typed text that names no category: say so and put the object's category back.
    function refuse(text) {
      const obj = find(key);
      showNotice(
        `no category “${text}” in this model` +
          (obj && obj.category ? `; the box keeps “${obj.category}”` : "; pick one from the list"),
      );
      input.value = obj && obj.category ? obj.category : "";
      input.select();
      active = Math.max(0, obj && obj.category ? state.categories.indexOf(obj.category) : 0);
      query = "";
      show();
    }

    function exactMatch(text) {
      const t = text.trim().toLowerCase();
      return state.categories.find((c) => c.toLowerCase() === t) || null;
    }

    input.addEventListener("focus", () => {
      input.select();
      const obj = find(key);
      const own = obj && obj.category ? state.categories.indexOf(obj.category) : -1;
      active = Math.max(0, own);
      query = "";
      show();
    });
    input.addEventListener("input", () => {
      active = 0;
      query = input.value;
      show();
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        active = clamp(active + (event.key === "ArrowDown" ? 1 : -1), 0, matches.length - 1);
        show();
        event.preventDefault();
      } else if (event.key === "Enter") {
        event.preventDefault();
        const text = input.value;
        const exact = exactMatch(text);
        if (exact) choose(exact);
        else if (text.trim() && query && matches.length) choose(matches[active]);
        else if (text.trim()) refuse(text.trim());
        else if (matches.length) choose(matches[active]);
      } else if (event.key === "Escape") {
        const obj = find(key);
        input.value = obj && obj.category ? obj.category : "";
        input.blur();
      }
    });
    input.addEventListener("blur", () => {
      hide();
      const obj = find(key);
      if (!obj) return;
      const text = input.value.trim();
      const exact = exactMatch(text);
      if (exact && exact !== obj.category) setCategory(obj, exact);
      else if (!exact && text && text !== obj.category) {
        showNotice(
          `no category “${text}” in this model` +
            (obj.category ? `; the box keeps “${obj.category}”` : ""),
        );
        input.value = obj.category || "";
      } else input.value = obj.category || "";
    });
  }

  // -- variations ---------------------------------------------------------------------------

  function renderVariations() {
    const box = $("#variations");
    const r = state.result;
    if (!r) {
      box.replaceChildren();
      return;
    }
    box.replaceChildren(
      ...r.images.map((b64, k) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "variation";
        button.classList.toggle("selected", k === state.sample);
        button.title = `variation ${k + 1}`;
        button.dataset.index = String(k);
        const img = document.createElement("img");
        img.alt = `variation ${k + 1}`;
        img.src = `data:image/png;base64,${b64}`;
        button.appendChild(img);
        button.addEventListener("click", () => {
          state.sample = k;
          renderVariations();
          draw();
        });
        return button;
      }),
    );
  }

  // -- style from a reference photo ------------------------------------------------------------

  const styleDialog = $("#style-dialog");
  const styleCanvas = $("#style-canvas");
  const styleCtx = styleCanvas.getContext("2d");
  const styleState = { obj: null, file: null, img: null, box: [0, 0, 1, 1], drag: null };

  function encodeStyle(file, box, category) {
    const form = new FormData();
    form.append("file", file);
    form.append("category", category);
    form.append("box", JSON.stringify(box.map(round4)));
    return api("/api/style", { method: "POST", body: form }).then((r) => r.z);
  }

  function openStyleDialog(obj) {
    if (obj.category === null) {
      showNotice("pick this box's category first: its look depends on it");
      return;
    }
    styleState.obj = obj;
    styleState.file = null;
    styleState.img = null;
    styleState.box = [0, 0, 1, 1];
    $("#style-file").value = "";
    $("#style-error").textContent = "";
    $("#style-apply").disabled = true;
    drawStyle();
    styleDialog.showModal();
  }

  function styleRect() {
    // Where the photo sits in the dialog canvas (fit, centred).
    const img = styleState.img;
    const cw = styleCanvas.width;
    const ch = styleCanvas.height;
    if (!img) return { x: 0, y: 0, w: cw, h: ch };
    const s = Math.min(cw / img.naturalWidth, ch / img.naturalHeight);
    const w = img.naturalWidth * s;
    const h = img.naturalHeight * s;
    return { x: (cw - w) / 2, y: (ch - h) / 2, w, h };
  }

  function drawStyle() {
    const cw = styleCanvas.width;
    const ch = styleCanvas.height;
    styleCtx.fillStyle = "#f4f4f2";
    styleCtx.fillRect(0, 0, cw, ch);
    if (!styleState.img) {
      styleCtx.fillStyle = "#9a9a95";
      styleCtx.font = "14px system-ui, sans-serif";
      styleCtx.textAlign = "center";
      styleCtx.fillText("choose a photo", cw / 2, ch / 2);
      styleCtx.textAlign = "start";
      return;
    }
    const r = styleRect();
    styleCtx.drawImage(styleState.img, r.x, r.y, r.w, r.h);
    const [x0, y0, x1, y1] = styleState.box;
    styleCtx.fillStyle = "rgba(0,0,0,0.45)";
    styleCtx.beginPath();
    styleCtx.rect(r.x, r.y, r.w, r.h);
    styleCtx.rect(r.x + x1 * r.w, r.y + y0 * r.h, (x0 - x1) * r.w, (y1 - y0) * r.h);
    styleCtx.fill("evenodd");
    styleCtx.strokeStyle = "#ffcc00";
    styleCtx.lineWidth = 2;
    styleCtx.strokeRect(r.x + x0 * r.w, r.y + y0 * r.h, (x1 - x0) * r.w, (y1 - y0) * r.h);
  }

  function stylePointer(event) {
    const bounds = styleCanvas.getBoundingClientRect();
    const scale = styleCanvas.width / bounds.width;
    const r = styleRect();
    return [
      clamp(((event.clientX - bounds.left) * scale - r.x) / r.w, 0, 1),
      clamp(((event.clientY - bounds.top) * scale - r.y) / r.h, 0, 1),
    ];
  }

  $("#style-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    $("#style-error").textContent = "";
    if (!file) return;
    const limit = state.info ? state.info.max_upload_bytes : Infinity;
    if (file.size > limit) {
      $("#style-error").textContent = `the file is larger than ${(limit / 2 ** 20).toFixed(0)} MB`;
      return;
    }
    const url = URL.createObjectURL(file);
    try {
      styleState.img = await loadImage(url);
      styleState.file = file;
      styleState.box = [0, 0, 1, 1];
      $("#style-apply").disabled = false;
    } catch (_) {
      $("#style-error").textContent = "the browser cannot read this file as an image";
    } finally {
      URL.revokeObjectURL(url);
    }
    drawStyle();
  });

  styleCanvas.addEventListener("pointerdown", (event) => {
    if (!styleState.img) return;
    styleCanvas.setPointerCapture(event.pointerId);
    styleState.drag = stylePointer(event);
  });
  styleCanvas.addEventListener("pointermove", (event) => {
    if (!styleState.drag) return;
    const [sx, sy] = styleState.drag;
    const [px, py] = stylePointer(event);
    if (Math.abs(px - sx) < MIN_SIZE || Math.abs(py - sy) < MIN_SIZE) return;
    styleState.box = [Math.min(sx, px), Math.min(sy, py), Math.max(sx, px), Math.max(sy, py)];
    drawStyle();
  });
  const endStyleDrag = () => {
    styleState.drag = null;
  };
  styleCanvas.addEventListener("pointerup", endStyleDrag);
  styleCanvas.addEventListener("pointercancel", endStyleDrag);

  function cropThumb(img, box) {
    const c = document.createElement("canvas");
    c.width = 48;
    c.height = 48;
    const [x0, y0, x1, y1] = box;
    const w = img.naturalWidth;
    const h = img.naturalHeight;
    c.getContext("2d").drawImage(img, x0 * w, y0 * h, (x1 - x0) * w, (y1 - y0) * h, 0, 0, 48, 48);
    return c.toDataURL("image/png");
  }

  $("#style-apply").addEventListener("click", async () => {
    const obj = styleState.obj;
    if (!obj || !styleState.file || !find(obj.key)) return;
    $("#style-apply").disabled = true;
    try {
      const z = await encodeStyle(styleState.file, styleState.box, obj.category);
      unlock(obj);
      obj.z = z;
      obj.style = {
        file: styleState.file,
        box: [...styleState.box],
        thumb: cropThumb(styleState.img, styleState.box),
      };
      styleDialog.close();
      renderObjects();
      draw();
      scheduleGenerate(0);
    } catch (error) {
      $("#style-error").textContent = error.message;
    } finally {
      $("#style-apply").disabled = false;
    }
  });

  // -- toolbar -------------------------------------------------------------------------------

  $("#num-samples").addEventListener("change", (event) => {
    state.numSamples = Number(event.target.value);
    scheduleGenerate(0);
  });

  $("#seed").addEventListener("change", (event) => {
    const seed = parseSeed(event.target.value);
    if (seed === null) {
      showNotice(
        `a seed is a whole number from 0 to ${SEED_LIMIT - 1n}: the seed stays ${state.seed}`,
      );
    } else {
      showNotice("");
      state.seed = seed;
    }
    event.target.value = String(state.seed);
    scheduleGenerate(0);
  });

  $("#new-seed").addEventListener("click", () => {
    state.seed = BigInt(Math.floor(Math.random() * 2 ** 31));
    $("#seed").value = String(state.seed);
    scheduleGenerate(0);
  });

  $("#show-boxes").addEventListener("change", draw);

  // The page's CSS (the variations) and the scale menu's tooltip follow the Pixel-exact box.
  function showPixelExact() {
    document.body.dataset.pixelExact = pixelExact() ? "1" : "";
    const how = pixelExact() ? "pixel-exact (nearest neighbour)" : "smoothly (bilinear)";
    $("#download-scale").title =
      `Size of the downloaded image: 1x is the model's own pixels; 4x and 8x are scaled ${how}, ` +
      "as the canvas shows them (the Pixel-exact box)";
  }

  $("#pixel-exact").addEventListener("change", () => {
    showPixelExact();
    draw();
  });

  // `img` drawn `scale` times its size, smooth or pixel-exact as on the canvas: a PNG blob.
  function scaledPng(img, scale) {
    const out = document.createElement("canvas");
    out.width = img.naturalWidth * scale;
    out.height = img.naturalHeight * scale;
    const octx = out.getContext("2d");
    octx.imageSmoothingEnabled = !pixelExact();
    octx.drawImage(img, 0, 0, out.width, out.height);
    return new Promise((resolve, reject) => {
      out.toBlob((blob) => {
        if (blob) resolve(blob);
        else reject(new Error("the browser could not encode the scaled image"));
      }, "image/png");
    });
  }

  $("#clear").addEventListener("click", () => {
    state.objects = [];
    state.selected = null;
    renderObjects();
    scheduleGenerate(0);
  });

  $("#download-image").addEventListener("click", async () => {
    const r = state.result;
    if (!r) {
      showError("nothing to download yet: draw a box first");
      return;
    }
    const scale = Number($("#download-scale").value);
    const filename = `layout2im-seed${state.resultSeed}-sample${state.sample}-${scale}x.png`;
    if (scale === 1) {
      // the server's PNG: exactly the model's pixels
      download(filename, `data:image/png;base64,${r.images[state.sample]}`);
      return;
    }
    try {
      downloadBlob(filename, await scaledPng(state.images[state.sample], scale));
    } catch (error) {
      showError(error.message);
    }
  });

  $("#download-layout").addEventListener("click", () => {
    const text = `${JSON.stringify(layoutJson(), null, 2)}\n`;
    downloadBlob("layout.json", new Blob([text], { type: "application/json" }));
  });

  $("#load-layout").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    event.target.value = "";
    if (!file) return;
    try {
      loadLayout(JSON.parse(await file.text()));
    } catch (error) {
      showError(`${file.name}: ${error.message}`);
    }
  });

  function loadLayout(data) {
    const objects = Array.isArray(data) ? data : data && data.objects;
    if (!Array.isArray(objects)) throw new Error('a layout needs an "objects" list');
    state.objects = [];
    state.selected = null;
    objects.forEach((o, i) => {
      if (!o || typeof o !== "object") throw new Error(`objects[${i}] must be an object`);
      const box = Array.isArray(o.box) && o.box.length === 4 ? o.box.map(Number) : [0, 0, 1, 1];
      addObject(box, {
        category: String(o.category),
        baseId: o.id !== undefined && o.id !== null ? o.id : undefined,
        z: Array.isArray(o.z) ? o.z : null,
        seed: Number.isInteger(o.seed) ? o.seed : undefined,
        styleRef: o.style && typeof o.style === "object" ? o.style : null,
      });
    });
    state.selected = null;
    renderObjects();
    draw();
    scheduleGenerate(0); // the server validates and names any bad field
  }

  // -- masks and the background lock (architectures that have them) --------------------------

  $("#show-mask").addEventListener("change", () => draw());
  $("#lock-background").addEventListener("change", (event) => {
    const codes = state.result && state.result.image_latents;
    state.imageZ = event.target.checked && codes ? codes[state.sample] : null;
    if (event.target.checked && !codes) event.target.checked = false;
    scheduleGenerate(0);
  });

  // -- start ---------------------------------------------------------------------------------

  async function start() {
    try {
      const [info, categories] = await Promise.all([api("/api/info"), api("/api/categories")]);
      state.info = info;
      state.groups = categories.groups || null;
      state.categories = state.groups
        ? state.groups.flatMap((g) => g.categories)
        : categories.categories.filter((c) => c !== "__image__");
      const name = info.name ? `${info.name}: ` : "";
      $("#show-mask-label").hidden = !hasCapability("masks");
      $("#lock-background-label").hidden = !hasCapability("image_code");
      $("#model-info").textContent =
        `${name}${info.image_size}×${info.image_size} images, ${state.categories.length} ` +
        `categories, up to ${info.max_objects} objects`;
    } catch (error) {
      showError(`cannot reach the model: ${error.message}`);
    }
    state.numSamples = Number($("#num-samples").value);
    state.seed = parseSeed($("#seed").value) ?? 0n;
    $("#seed").value = String(state.seed);
    showPixelExact();
    renderObjects();
    draw();
    document.body.dataset.ready = "1";
  }

  // For scripts and tests: read-only access to the editor's state.
  window.layout2imEditor = { state, layoutJson, loadLayout, settled };
  start();
})();
