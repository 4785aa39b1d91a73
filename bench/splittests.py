"""Benchmark (not a test): is it safe to look at a split test every day?

Simulates tests with daily looks for 30 days through the product's own verdict
(``splittests.results.evaluate``) and prints:

* the false-winner rate of A/A tests (no real difference) with 2, 3 and 10 variants: the share of
  tests in which a winner was declared on any of the 30 days (target: at most 5%);
* the same for the fixed-horizon method read every day, to show what peeking costs;
* the power on an A/B test with a real +10% lift (the share of tests that found the better variant
  within 30 days), so that safety is not bought by never deciding;
* an A/A revenue test (heavy-tailed order values, capped at the 99th percentile).

.venv/bin/python bench/splittests.py [--sims 1000] [--seed 15]
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DAYS = 30
BASELINE = 0.05  # conversion rate
DAILY_PER_VARIANT = 500  # visitors per variant per day (A/A)
POWER_DAILY_PER_VARIANT = 1000  # visitors per variant per day (A/B with +10%)
TARGET_FALSE_WINNERS = 0.05


def simulate(evaluate, variant_data, rng, arms, rates, daily, *, method, revenue=False, daily_looks=True):
    """One test looked at daily (or only on the last day): (day of the first winner or None, its key)."""
    visitors = np.zeros(arms, dtype=int)
    conversions = np.zeros(arms, dtype=int)
    orders: list[list[int]] = [[] for _ in range(arms)]
    keys = ["control"] + [f"v{i}" for i in range(1, arms)]
    for day in range(1, DAYS + 1):
        new = rng.multinomial(rng.poisson(daily * arms), [1 / arms] * arms)
        converted = rng.binomial(new, rates)
        visitors += new
        conversions += converted
        if revenue:
            for arm in range(arms):
                # Order values: log-normal, median 40.00, a long tail of large orders.
                amounts = np.rint(rng.lognormal(np.log(4000), 1.0, converted[arm])).astype(int)
                orders[arm].extend(amounts.tolist())
        if not daily_looks and day < DAYS:
            continue
        data = [
            variant_data(
                keys[arm],
                keys[arm],
                arm == 0,
                int(visitors[arm]),
                int(conversions[arm]),
                orders[arm],
                len(orders[arm]),
            )
            for arm in range(arms)
        ]
        results = evaluate(
            data,
            weights=None,
            minimum_sample=100,
            cap_percentile=99.0 if revenue else None,
            method=method,
            goal="revenue" if revenue else "pageview",
            minimum_conversions=10,
        )
        if results.winner is not None:
            return day, results.winner
    return None, None


def rate(evaluate, variant_data, rng, sims, arms, rates, daily, *, want=None, **options):
    hits = 0
    days = []
    for _ in range(sims):
        day, winner = simulate(evaluate, variant_data, rng, arms, rates, daily, **options)
        if winner is not None and (want is None or winner == want):
            hits += 1
            days.append(day)
    return hits / sims, (float(np.median(days)) if days else None)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sims", type=int, default=1000, help="simulated tests per line (default 1000)")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "humblytics.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from splittests.measure import VariantData
    from splittests.results import evaluate

    rng = np.random.default_rng(args.seed)
    sims = args.sims
    started = time.perf_counter()
    print(f"Split tests: {sims} simulated tests per line, looked at every day for {DAYS} days")
    print(f"{'scenario':58s} {'measured':>9s} {'target':>9s}")
    failed = False
    for arms in (2, 3, 10):
        share, _ = rate(
            evaluate, VariantData, rng, sims, arms, [BASELINE] * arms, DAILY_PER_VARIANT, method="sequential"
        )
        failed |= share > TARGET_FALSE_WINNERS
        label = f"A/A, {arms} variants, sequential: false-winner rate"
        print(f"{label:58s} {share:9.1%} {'<= 5.0%':>9s}")
    share, _ = rate(
        evaluate,
        VariantData,
        rng,
        sims,
        2,
        [BASELINE] * 2,
        DAILY_PER_VARIANT,
        method="sequential",
        revenue=True,
    )
    failed |= share > TARGET_FALSE_WINNERS
    print(f"{'A/A revenue, 2 variants, sequential, capped: false winners':58s} {share:9.1%} {'<= 5.0%':>9s}")
    peek_sims = max(1, sims // 2)
    share, _ = rate(
        evaluate, VariantData, rng, peek_sims, 2, [BASELINE] * 2, DAILY_PER_VARIANT, method="fixed_horizon"
    )
    print(f"{'A/A, 2 variants, fixed horizon read daily (for contrast)':58s} {share:9.1%} {'(unsafe)':>9s}")
    lifted = [BASELINE, BASELINE * 1.1]
    for daily in (POWER_DAILY_PER_VARIANT, 2 * POWER_DAILY_PER_VARIANT):
        power, median_day = rate(
            evaluate, VariantData, rng, sims, 2, lifted, daily, method="sequential", want="v1"
        )
        label = f"A/B +10% ({BASELINE:.0%} → {lifted[1]:.1%}), {daily:,}/variant/day: power"
        print(f"{label:58s} {power:9.1%} {'':>9s}  (median day of the verdict: {median_day or 0:.0f})")
    once, _ = rate(
        evaluate,
        VariantData,
        rng,
        peek_sims,
        2,
        lifted,
        POWER_DAILY_PER_VARIANT,
        method="fixed_horizon",
        want="v1",
        daily_looks=False,
    )
    label = f"  the same at {POWER_DAILY_PER_VARIANT:,}/day, fixed horizon read once on day {DAYS}"
    print(f"{label:58s} {once:9.1%}")
    print(f"({time.perf_counter() - started:.0f} s)")
    if failed:
        sys.exit("a false-winner rate is above 5%")


if __name__ == "__main__":
    main()
