"""Cost of privacy processing per typical LLM span (about 2 KB of messages), on and off.

Run: python benchmarks/bench_privacy.py [--rounds N]

Prints the median CPU time to snapshot one span's messages with secret scrubbing on (the
default), off, and with every PII masker, side by side in interleaved rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time

from tracekit._privacy import PII_MASKERS, Privacy
from tracekit._serialize import to_jsonable

MESSAGES = [
    {"role": "system", "content": "You are a helpful support agent for ACME. " * 8},
    {
        "role": "user",
        "content": (
            "Hi, my order A-1042 has not arrived. I paid with my card last week and the "
            "tracking page says it left the warehouse. Can you check where it is and tell me "
            "when it arrives? Also, how do refunds work if it is lost? Thanks, Jane. " * 4
        ),
    },
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_order_status", "arguments": '{"order_id": "A-1042"}'},
            }
        ],
    },
    {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": '{"status": "shipped", "eta": "tomorrow"}',
    },
    {"role": "assistant", "content": "Your order has shipped and arrives tomorrow. " * 6},
]


def per_span_us(policy: Privacy, n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        to_jsonable(MESSAGES, 20_000, policy)
    return (time.process_time() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--n", type=int, default=5_000)
    args = parser.parse_args()
    size = len(str(MESSAGES))
    contenders = {
        # to_jsonable falls back to the process-wide policy, so "off" is a policy doing nothing
        "no privacy processing": Privacy(scrub_secrets=False, keep_media=True),
        "secrets scrubbed (default)": Privacy(),
        "secrets + all PII maskers": Privacy(mask=list(PII_MASKERS)),
    }
    results: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.rounds):  # interleaved so machine noise hits all alike
        for name, policy in contenders.items():
            results[name].append(per_span_us(policy, args.n))
    base = statistics.median(results["no privacy processing"])
    print(f"snapshot of {len(MESSAGES)} messages, about {size} characters, per span:")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"  {name:30s} {median:8.2f} µs   ({median - base:+.2f} µs, x{median / base:.2f})")


if __name__ == "__main__":
    main()
