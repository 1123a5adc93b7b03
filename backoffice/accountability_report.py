"""The accountability report, drawn: PNG charts of the figures that reportin.accountability
computes (check-ins over time by outcome; each rate by region and by country with its 95%
interval), and the report's page (`manage.py accountability_report`: index.html, the charts and
figures.json). The auditors' dashboard draws the same charts in the page (backoffice.auditing)."""

from datetime import UTC, datetime

from django.utils.translation import gettext

from reportin.accountability import DIMENSIONS, NOT_SCORED, OUTCOME_LABELS, OUTCOMES, RATES, Figures

# --- Charts ---------------------------------------------------------------------------------

# Groups drawn in a rates chart (the largest by check-ins); the tables list every group.
CHART_MAX_GROUPS = 40

OUTCOME_COLOURS = {
    "match": "#2e7d32",
    "non_match": "#c62828",
    "no_face": "#6a1b9a",
    "multiple_faces": "#ef6c00",
    "low_quality": "#f9a825",
    "unreadable": "#455a64",
    NOT_SCORED: "#b0bec5",
}


def chart_timeline(report: Figures, path) -> None:
    """Stacked bars: check-ins per day (or week) by outcome."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(11, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    days = [day for day, _ in report.timeline]
    bottom = [0] * len(days)
    for outcome in OUTCOMES:
        values = [counts[outcome] for _, counts in report.timeline]
        if any(values):
            ax.bar(
                days,
                values,
                bottom=bottom,
                label=str(OUTCOME_LABELS[outcome]),
                color=OUTCOME_COLOURS[outcome],
                width=0.8 if report.period == "day" else 5,
            )
            bottom = [b + v for b, v in zip(bottom, values)]
    title = (
        gettext("Check-ins per day by outcome, %(start)s to %(end)s")
        if report.period == "day"
        else gettext("Check-ins per week by outcome, %(start)s to %(end)s")
    )
    ax.set_title(title % {"start": report.start, "end": report.end})
    ax.set_ylabel(gettext("check-ins"))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if days:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    else:
        ax.text(0.5, 0.5, gettext("No check-ins in this period."), ha="center", va="center", transform=ax.transAxes)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, format="png")


def chart_rates(report: Figures, dimension: str, path) -> None:
    """One panel per rate: each group's rate with its 95% interval; groups too small to judge
    are drawn hollow and labelled."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    largest = sorted(report.groups[dimension], key=lambda g: -g.checkins)[:CHART_MAX_GROUPS]
    groups = [report.total, *sorted(largest, key=lambda g: g.name)]

    height = max(3.0, 0.35 * len(groups) + 1.2)
    rows = -(-len(RATES) // 3)  # three panels a row
    fig = Figure(figsize=(15, height * rows), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 3, sharey=True, squeeze=False)
    for ax in axes.flat[len(RATES) :]:
        ax.set_visible(False)
    names = [gettext("All groups") if g is report.total else g.name for g in groups]
    positions = list(range(len(groups)))[::-1]
    for ax, (key, title, denominator) in zip(axes.flat, RATES):
        # Each panel's scale fits its widest interval: a 2% rate next to a 3% one must be
        # told apart (the axis says where the scale ends).
        highs = [g.rates[key].high for g in groups if g.rates[key].rate is not None]
        top = min(1.0, max(highs) * 1.15) if highs else 1.0
        for y, g in zip(positions, groups):
            rate = g.rates[key]
            if rate.rate is None:
                ax.text(0.01 * top, y, gettext("no cases"), va="center", fontsize=7, color="#777")
                continue
            small = rate.too_small
            ax.errorbar(
                rate.rate,
                y,
                # (max: at a rate of 0 or 1 the interval's end can miss it by a rounding error)
                xerr=[[max(0.0, rate.rate - rate.low)], [max(0.0, rate.high - rate.rate)]],
                fmt="o",
                color="#999" if small else "#1565c0",
                mfc="white" if small else "#1565c0",
                capsize=3,
            )
            label = f"{rate.count}/{rate.of}" + (" " + gettext("too small") if small else "")
            ax.text(top * 1.05, y, label, va="center", fontsize=7, color="#777" if small else "#222", clip_on=False)
        ax.set_title(gettext("%(rate)s\n(of %(denominator)s)") % {"rate": title, "denominator": denominator}, fontsize=9)
        ax.set_xlim(-0.02 * top, top * 1.02)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0 if top > 0.1 else 1))
        ax.set_yticks(positions, names, fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    words = {"dimension": str(DIMENSIONS[dimension][1]).lower(), "start": report.start, "end": report.end}
    words.update(min_group=report.min_group, largest=len(largest))
    if len(largest) == len(report.groups[dimension]):
        title = gettext(
            "Rates by %(dimension)s with 95%% Wilson intervals, %(start)s to %(end)s\n"
            "(hollow, grey: fewer than %(min_group)s cases, too small to judge)"
        )
    else:
        title = gettext(
            "Rates by %(dimension)s with 95%% Wilson intervals, %(start)s to %(end)s\n"
            "(hollow, grey: fewer than %(min_group)s cases, too small to judge; the %(largest)s largest groups, "
            "all are in the tables)"
        )
    fig.suptitle(title % words, fontsize=10)
    fig.savefig(path, format="png")


def chart_png(report: Figures, chart: str) -> bytes:
    """One chart of the report ("timeline", "region" or "country") as PNG bytes, drawn in memory."""
    from io import BytesIO

    out = BytesIO()
    if chart == "timeline":
        chart_timeline(report, out)
    else:
        chart_rates(report, chart, out)
    return out.getvalue()


def write_report(report: Figures, out_dir, *, progress=None) -> dict:
    """Write index.html, the charts and figures.json into `out_dir`; returns their paths."""
    import json
    from pathlib import Path

    from django.template.loader import render_to_string

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "timeline": out / "checkins_over_time.png",
        "region": out / "rates_by_region.png",
        "country": out / "rates_by_country.png",
        "json": out / "figures.json",
        "html": out / "index.html",
    }
    chart_timeline(report, files["timeline"])
    progress and progress(1)
    chart_rates(report, "region", files["region"])
    progress and progress(2)
    chart_rates(report, "country", files["country"])
    progress and progress(3)
    files["json"].write_text(json.dumps(report.as_dict(), indent=2, default=str))
    html = render_to_string(
        "backoffice/accountability_report.html",
        {
            "report": report,
            "rates": RATES,
            "outcomes": OUTCOMES,
            "dimensions": DIMENSIONS,
            "charts": {k: v.name for k, v in files.items()},
            "generated_at": datetime.now(UTC),
        },
    )
    files["html"].write_text(html)
    progress and progress(4)
    return files
