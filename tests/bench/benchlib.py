"""What the bench scripts' Python parts share (tests/bench/lib.sh runs
them with this folder on the path): Prometheus text files, the samples a
histogram took between two scrapes, quantiles inside a bucket, the
loop-lag RESULT lines, and the RESULT files and tables of the summaries.

Scrapes are files BASE/KIND-NAME.txt (KIND "metrics", "probe", ...), one
per scrape NAME; a window is a list of (before, after) scrape names whose
differences are added up.
"""

INF = float("inf")


# ---- scrapes ---------------------------------------------------------------

def load(base, kind, name):
    """The samples of BASE/KIND-NAME.txt: {series: value}."""
    m = {}
    for line in open("%s/%s-%s.txt" % (base, kind, name)):
        if line.startswith("#") or not line.strip():
            continue
        key, _, val = line.rpartition(" ")
        try:
            m[key] = float(val)
        except ValueError:
            pass
    return m


def buckets(m, family):
    """A histogram's cumulative bucket counts: {le (seconds): count}."""
    out = {}
    pre = family + '_bucket{le="'
    for k, v in m.items():
        if k.startswith(pre):
            le = k[len(pre):].split('"')[0]
            out[INF if le == "+Inf" else float(le)] = v
    return out


def window(base, kind, family, pairs):
    """The bucket counts of the samples taken between each (before,
    after) pair of scrapes, added up: [(le, cumulative count)], sorted."""
    acc = {}
    for a, b in pairs:
        ba = buckets(load(base, kind, a), family)
        for le, v in buckets(load(base, kind, b), family).items():
            acc[le] = acc.get(le, 0) + v - ba.get(le, 0)
    return sorted(acc.items())


def delta(family, m0, m1):
    """How much a counter family (every series of it) grew from m0 to m1."""
    return sum(v - m0.get(k, 0) for k, v in m1.items()
               if k == family or k.startswith(family + "{"))


def sched(base, pairs):
    """ms the loop thread ran and waited for the CPU over the windows
    (BASE/sched-NAME.txt: /proc/PID/schedstat, ns)."""
    run = wait = 0
    for a, b in pairs:
        va, vb = ([int(x) for x in open("%s/sched-%s.txt" % (base, n))
                   .read().split()] for n in (a, b))
        run += vb[0] - va[0]
        wait += vb[1] - va[1]
    return run / 1e6, wait / 1e6


# ---- quantiles ---------------------------------------------------------------

def quantile(cum, q):
    """(value, the bound of its bucket) of quantile q, linear inside the
    bucket as Prometheus' histogram_quantile; the +Inf bucket gives its
    lower bound.  (None, None) without samples."""
    n = cum[-1][1] if cum else 0
    if n <= 0:
        return None, None
    rank = q * n
    prev_le, prev_c = 0.0, 0.0
    for le, c in cum:
        if c >= rank:
            if le == INF:
                return prev_le, le
            return prev_le + (le - prev_le) * (rank - prev_c) / \
                max(c - prev_c, 1e-9), le
        prev_le, prev_c = le, c
    return None, None


def top(cum):
    """The bound of the highest bucket that holds a sample."""
    t, prev = 0.0, 0
    for le, c in cum:
        if c > prev:
            t = le
        prev = c
    return t


def ms(s, nd):
    """Seconds as milliseconds with nd decimals; "inf" for +Inf."""
    return "inf" if s == INF else "%.*f" % (nd, s * 1000)


def lag_line(scenario, name, cum, nd, extra=""):
    """The RESULT line of a loop-lag window (bucket bounds in ms with nd
    decimals): samples, the share within 1 ms, p99; pass when 99% of the
    samples are within 1 ms."""
    n = cum[-1][1] if cum else 0
    if n <= 0:
        return "RESULT server=xmppd scenario=%s window=%s samples=0" % (
            scenario, name)
    p99, p99_le = quantile(cum, 0.99)
    within = dict(cum).get(0.001, 0) / n
    return ("RESULT server=xmppd scenario=%s window=%s samples=%d "
            "within_1ms=%.4f p99_bucket_ms=%s p99_ms=%.3f max_bucket_ms=%s%s "
            "pass=%s" % (scenario, name, n, within, ms(p99_le, nd),
                         p99 * 1000, ms(top(cum), nd), extra,
                         "yes" if within >= 0.99 else "no"))


def lag_lines(base, scenario, windows, nd):
    """For each (name, pairs) window: xmppd's loop lag (with its loop
    thread's CPU and run-queue wait) and the idle probe's beside it."""
    for name, pairs in windows:
        run, wait = sched(base, pairs)
        print(lag_line(scenario, name, window(
            base, "metrics", "xmppd_loop_lag_seconds", pairs), nd,
            " cpu_ms=%.0f runq_wait_ms=%.1f" % (run, wait)))
        print(lag_line(scenario + "_probe", name, window(
            base, "probe", "probe_loop_lag_seconds", pairs), nd))


# ---- summaries ---------------------------------------------------------------

def results(path):
    """The RESULT lines of a results file, as dicts."""
    rows = []
    for line in open(path):
        if line.startswith("RESULT "):
            rows.append(dict(kv.split("=", 1) for kv in line.split()[1:]
                             if "=" in kv))
    return rows


def picks(rows, scenario, **want):
    return [r for r in rows if r.get("scenario") == scenario and
            all(r.get(k) == v for k, v in want.items())]


def pick(rows, scenario, **want):
    """The last row of scenario with the wanted values, or None."""
    p = picks(rows, scenario, **want)
    return p[-1] if p else None


def num(r, k):
    try:
        return float(r[k])
    except (TypeError, KeyError, ValueError):
        return None


def fmt(v, nd=0):
    return "-" if v is None else "{:,.{}f}".format(v, nd)


def verdict(ok):
    return "-" if ok is None else ("met" if ok else "MISSED")


class Table:
    """A summary table: figure, value, target, verdict."""

    def __init__(self, figure_w, value_w, target_w):
        self.w = (figure_w, value_w, target_w)
        self.lines = []

    def line(self, figure, value, target, ok):
        return "| %-*s | %*s | %-*s | %-7s |" % (
            self.w[0], figure, self.w[1], value, self.w[2], target, ok)

    def row(self, figure, value, target="", ok=None):
        self.lines.append(self.line(figure, value, target, verdict(ok)))

    def print(self):
        print(self.line("figure", "value", "target", "verdict"))
        print("|" + "|".join("-" * (w + 2) for w in self.w + (7,)) + "|")
        print("\n".join(self.lines))
