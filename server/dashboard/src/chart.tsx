import { useState } from 'preact/hooks';

/**
 * A small line chart drawn as SVG (no library, nothing inline that the CSP would refuse: colours and
 * strokes come from classes in styles.css). Series share one time axis (`times`, Unix ms) and one y axis
 * starting at 0 with rounded ticks; a null value leaves a gap. Hovering shows the values at that time in
 * the legend.
 */

export interface Series {
  name: string;
  values: (number | null)[];
}

const W = 560;
const H = 170;
const LEFT = 72;
const RIGHT = 8;
const TOP = 10;
const BOTTOM = 20;
const TICKS = 4;

/**
 * The y axis's step: the smallest "nice" number (1, 2, 2.5, 5 × 10^n) at least `v`; with `integer`, a whole
 * number at least 1 (counts have no fractional ticks).
 */
export function niceStep(v: number, integer: boolean): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  let step = 10 * p;
  for (const m of [1, 2, 2.5, 5]) {
    if (m * p >= v) {
      step = m * p;
      break;
    }
  }
  return integer ? Math.max(1, Math.ceil(step)) : step;
}

export function LineChart({
  title,
  series,
  times,
  windowMs,
  format,
  integer = false,
}: {
  title: string;
  series: Series[];
  times: number[];
  /** The time span of the x axis, ending at the last time. */
  windowMs: number;
  format: (v: number) => string;
  /** The values are counts: ticks at whole numbers. */
  integer?: boolean;
}) {
  const [hover, setHover] = useState<number | null>(null);
  const end = times.at(-1) ?? Date.now();
  let max = 0;
  for (const s of series) for (const v of s.values) if (v !== null && v > max) max = v;
  const top = niceStep(max / TICKS, integer) * TICKS;
  const plotW = W - LEFT - RIGHT;
  const plotH = H - TOP - BOTTOM;
  const x = (t: number) => LEFT + plotW - ((end - t) / windowMs) * plotW;
  const y = (v: number) => TOP + plotH - (v / top) * plotH;
  const path = (values: (number | null)[]) => {
    let d = '';
    let pen = false;
    values.forEach((v, i) => {
      if (v === null || times[i] === undefined || end - times[i] > windowMs) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${x(times[i]).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    });
    return d;
  };
  const onMove = (e: MouseEvent) => {
    const svg = e.currentTarget as SVGSVGElement;
    const r = svg.getBoundingClientRect();
    const px = ((e.clientX - r.left) * W) / Math.max(1, r.width);
    let best: number | null = null;
    let dist = Number.POSITIVE_INFINITY;
    times.forEach((t, i) => {
      const d = Math.abs(x(t) - px);
      if (d < dist) {
        dist = d;
        best = i;
      }
    });
    setHover(best);
  };
  const at = hover ?? times.length - 1;
  return (
    <figure class="chart">
      <figcaption>
        <span class="chart-title">{title}</span>
        <ul class="legend">
          {series.map((s, i) => (
            <li key={s.name}>
              <span class={`swatch s${i % 6}`} />
              {s.name}
              <b class="mono">{at >= 0 && s.values[at] != null ? format(s.values[at] as number) : '—'}</b>
            </li>
          ))}
        </ul>
      </figcaption>
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={title}
        onMouseMove={onMove}
        onMouseLeave={() => setHover(null)}
      >
        {Array.from({ length: TICKS + 1 }, (_, i) => {
          const v = (top * i) / TICKS;
          return (
            <g key={i}>
              <line class="grid" x1={LEFT} x2={W - RIGHT} y1={y(v)} y2={y(v)} />
              <text class="tick" x={LEFT - 6} y={y(v) + 4} text-anchor="end">
                {format(v)}
              </text>
            </g>
          );
        })}
        <text class="tick" x={LEFT} y={H - 4}>
          −{Math.round(windowMs / 60_000)} min
        </text>
        <text class="tick" x={W - RIGHT} y={H - 4} text-anchor="end">
          now
        </text>
        {series.map((s, i) => (
          <path key={s.name} class={`line s${i % 6}`} d={path(s.values)} />
        ))}
        {series.map((s, i) => {
          const v = s.values[at];
          const t = times[at];
          if (v == null || t === undefined) return null;
          return <circle key={s.name} class={`point s${i % 6}`} cx={x(t)} cy={y(v)} r={3} />;
        })}
        {hover !== null && times[hover] !== undefined && (
          <line class="cursor" x1={x(times[hover])} x2={x(times[hover])} y1={TOP} y2={TOP + plotH} />
        )}
      </svg>
    </figure>
  );
}
