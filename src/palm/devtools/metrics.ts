/** Verification and identification metrics (ISO/IEC 19795-1 vocabulary). Scores: higher = more similar. */

export interface ErrorRates {
  /** equal error rate (the smallest max(FMR, FNMR) over thresholds), fraction */
  eer: number;
  eerThreshold: number;
}

function sortedCopy(a: ArrayLike<number>): Float64Array {
  const s = Float64Array.from(a);
  s.sort();
  return s;
}

/** Count of values >= t in an ascending array. */
function countAtLeast(sorted: Float64Array, t: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return sorted.length - lo;
}

export interface DetPoint {
  threshold: number;
  fmr: number;
  fnmr: number;
}

/** FMR and FNMR at every distinct score used as the acceptance threshold (accept when score >= t). */
export function detCurve(genuine: ArrayLike<number>, impostor: ArrayLike<number>): DetPoint[] {
  const g = sortedCopy(genuine);
  const im = sortedCopy(impostor);
  const all = sortedCopy([...g, ...im]);
  const pts: DetPoint[] = [];
  let prev = NaN;
  for (const t of all) {
    if (t === prev) continue;
    prev = t;
    pts.push({ threshold: t, fmr: countAtLeast(im, t) / im.length, fnmr: 1 - countAtLeast(g, t) / g.length });
  }
  // a threshold above every score: nothing accepted
  pts.push({ threshold: Infinity, fmr: 0, fnmr: 1 });
  return pts;
}

/**
 * Equal error rate: where FMR and FNMR cross, linearly interpolated between the two
 * neighbouring thresholds (so identical distributions give 0.5, separated ones 0).
 */
export function equalErrorRate(genuine: ArrayLike<number>, impostor: ArrayLike<number>): ErrorRates {
  if (genuine.length === 0 || impostor.length === 0) return { eer: NaN, eerThreshold: NaN };
  const det = detCurve(genuine, impostor); // FMR falls, FNMR rises along it
  for (let i = 0; i < det.length; i++) {
    const p = det[i]!;
    if (p.fmr === p.fnmr) return { eer: p.fmr, eerThreshold: p.threshold };
    if (p.fmr < p.fnmr) {
      const q = det[i - 1]!; // exists: the first point has FNMR 0
      const a = (q.fmr - q.fnmr) / (q.fmr - q.fnmr - (p.fmr - p.fnmr));
      return { eer: q.fmr + a * (p.fmr - q.fmr), eerThreshold: p.threshold };
    }
  }
  return { eer: 0, eerThreshold: NaN };
}

/** FNMR at the lowest threshold whose FMR does not exceed `fmr`. */
export function fnmrAtFmr(
  genuine: ArrayLike<number>,
  impostor: ArrayLike<number>,
  fmr: number,
): { fnmr: number; threshold: number } {
  let best = { fnmr: 1, threshold: Infinity };
  for (const p of detCurve(genuine, impostor)) {
    if (p.fmr <= fmr && p.fnmr < best.fnmr) best = { fnmr: p.fnmr, threshold: p.threshold };
  }
  return best;
}

/**
 * Leave-one-out rank-1 identification: each sample whose identity has another sample is a
 * probe against all other samples; a hit when the single most similar one (ties count as a
 * miss unless all tied are mates) has the probe's identity.
 */
export function rank1(ids: string[], score: (i: number, j: number) => number): number {
  const count = new Map<string, number>();
  for (const id of ids) count.set(id, (count.get(id) ?? 0) + 1);
  let probes = 0;
  let hits = 0;
  for (let i = 0; i < ids.length; i++) {
    if ((count.get(ids[i]!) ?? 0) < 2) continue;
    probes++;
    let best = -Infinity;
    let mate = false;
    for (let j = 0; j < ids.length; j++) {
      if (j === i) continue;
      const s = score(i, j);
      if (s > best) {
        best = s;
        mate = ids[j] === ids[i];
      } else if (s === best && ids[j] !== ids[i]) mate = false;
    }
    if (mate) hits++;
  }
  return probes ? hits / probes : NaN;
}

/** A DET curve (FNMR against FMR, log-log axes) as a standalone SVG document. */
export function detSvg(curves: { label: string; points: DetPoint[] }[], title = 'DET curve'): string {
  const W = 640;
  const H = 480;
  const L = 70;
  const R = 20;
  const T = 40;
  const B = 60;
  const lo = -5; // 1e-5
  const hi = 0; // 1
  const sx = (v: number) => L + ((Math.log10(Math.max(v, 1e-5)) - lo) / (hi - lo)) * (W - L - R);
  const sy = (v: number) => H - B - ((Math.log10(Math.max(v, 1e-5)) - lo) / (hi - lo)) * (H - T - B);
  const colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
      'font-family="sans-serif" font-size="12">',
  );
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`);
  for (let e = lo; e <= hi; e++) {
    const v = 10 ** e;
    out.push(`<line x1="${sx(v)}" y1="${T}" x2="${sx(v)}" y2="${H - B}" stroke="#ddd"/>`);
    out.push(`<line x1="${L}" y1="${sy(v)}" x2="${W - R}" y2="${sy(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${sx(v)}" y="${H - B + 16}" text-anchor="middle">1e${e}</text>`);
    out.push(`<text x="${L - 6}" y="${sy(v) + 4}" text-anchor="end">1e${e}</text>`);
  }
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 18}" text-anchor="middle">FMR (false match rate)</text>`);
  const midY = (T + H - B) / 2;
  out.push(
    `<text x="18" y="${midY}" text-anchor="middle" transform="rotate(-90 18 ${midY})">` +
      'FNMR (false non-match rate)</text>',
  );
  out.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#333"/>`);
  curves.forEach((c, k) => {
    const col = colours[k % colours.length]!;
    const d = c.points
      .filter((p) => p.fmr > 0 || p.fnmr > 0)
      .map((p, i) => `${i ? 'L' : 'M'}${sx(p.fmr).toFixed(1)},${sy(p.fnmr).toFixed(1)}`)
      .join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${col}" stroke-width="2"/>`);
    out.push(`<rect x="${W - R - 200}" y="${T + 10 + 18 * k}" width="12" height="3" fill="${col}"/>`);
    out.push(`<text x="${W - R - 182}" y="${T + 15 + 18 * k}">${escapeXml(c.label)}</text>`);
  });
  out.push(`<text x="${L + 6}" y="${H - B - 6}" fill="#666" font-size="10">values of 0 are drawn at 1e-5</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}
