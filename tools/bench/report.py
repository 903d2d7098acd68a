"""The figures: per endpoint, the service against each baseline (req/s and p99 ratios), and the details."""

from __future__ import annotations

import statistics

BASELINES = {"flask": "Flask", "asgi": "raw ASGI"}


def ratios(service_rounds: list[dict], baseline_rounds: list[dict]) -> dict:
    """Medians of the per-round ratios (runs made back to back share the machine's load).

    rps: the service's req/s over the baseline's (below 1: slower). p99: the service's p99
    over the baseline's (above 1: slower). by_cpu: the baseline's server CPU per request over
    the service's, the steadier estimate of rps when others load the machine.
    """
    pairs = list(zip(service_rounds, baseline_rounds, strict=True))

    def median(values: list[float]) -> float | None:
        return round(statistics.median(values), 3) if values else None

    return {
        "rps": median([m["rps"] / t["rps"] for m, t in pairs if t["rps"]]),
        "p99": median([m["p99_ms"] / t["p99_ms"] for m, t in pairs if t["p99_ms"]]),
        "by_cpu": median(
            [
                t["server_cpu_us_per_request"] / m["server_cpu_us_per_request"]
                for m, t in pairs
                if t.get("server_cpu_us_per_request") and m.get("server_cpu_us_per_request")
            ]
        ),
        "rounds_rps": [round(m["rps"] / t["rps"], 3) for m, t in pairs if t["rps"]],
    }


def print_comparison(endpoints: dict) -> None:
    """One line per endpoint: the service's req/s and p99, each baseline's, and the ratios."""
    names = [n for n in BASELINES if any(n in e.get("baselines", {}) for e in endpoints.values())]
    header = f"{'endpoint':<38}{'service':>17}" + "".join(f"{BASELINES[n]:>17}" for n in names)
    header += "".join(f"{'vs ' + BASELINES[n]:>22}" for n in names)
    units = f"{'':<38}{'req/s  p99 ms':>17}" + "".join(f"{'req/s  p99 ms':>17}" for _ in names)
    units += "".join(f"{'req/s x   p99 x':>22}" for _ in names)
    print("\n" + header + "\n" + units + "\n" + "-" * len(header))
    for endpoint in endpoints.values():
        mine = endpoint["service"]
        line = f"{endpoint['label']:<38}{mine['rps']:>8,.0f}{mine['p99_ms']:>9.1f}"
        for name in names:
            theirs = endpoint.get("baselines", {}).get(name)
            line += f"{theirs['rps']:>8,.0f}{theirs['p99_ms']:>9.1f}" if theirs else f"{'-':>17}"
        for name in names:
            ratio = endpoint.get("ratios", {}).get(name)
            line += (
                f"{_or_dash(ratio and ratio['rps']):>13}{_or_dash(ratio and ratio['p99']):>9}"
                if ratio
                else f"{'-':>22}"
            )
        print(line)
    print(
        "\nreq/s x: the service's req/s over the baseline's (1 = as fast); p99 x: the service's p99"
        " over the baseline's (1 = as quick); medians of the rounds' ratios."
    )


def print_details(endpoints: dict) -> None:
    header = (
        f"{'run':<50}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>8}"
        f"{'app CPU µs/req':>16}{'DB CPU µs/req':>15}{'others CPUs':>13}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for endpoint in endpoints.values():
        rows = [("service", endpoint["service"])] + list(endpoint.get("baselines", {}).items())
        for server, r in rows:
            label = f"{endpoint['label']} [{server}]"
            print(
                f"{label:<50}{r['rps']:>8,.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
                f"{r['non2xx']:>8}{_or_dash(r.get('server_cpu_us_per_request')):>16}"
                f"{_or_dash(r.get('db_cpu_us_per_request')):>15}{_or_dash(r.get('other_processes_cpus')):>13}"
            )


def markdown(endpoints: dict) -> str:
    """The comparison as a Markdown table (for the README)."""
    lines = [
        "| Endpoint | service req/s | p99 ms | Flask req/s | p99 ms | raw ASGI req/s | p99 ms"
        " | vs Flask: req/s, p99 | vs raw ASGI: req/s, p99 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for endpoint in endpoints.values():
        mine = endpoint["service"]
        cells = [endpoint["label"], f"{mine['rps']:,.0f}", f"{mine['p99_ms']:.1f}"]
        for name in BASELINES:
            theirs = endpoint.get("baselines", {}).get(name)
            cells += [f"{theirs['rps']:,.0f}", f"{theirs['p99_ms']:.1f}"] if theirs else ["", ""]
        for name in BASELINES:
            ratio = endpoint.get("ratios", {}).get(name)
            cells.append(f"{ratio['rps']}x, {ratio['p99']}x" if ratio else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _or_dash(value) -> str:
    return "-" if value is None else str(value)
