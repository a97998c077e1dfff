#!/usr/bin/env python3
"""Report of bench/cold_fill.sh (standard library only), run after the storm.

  cold_fill.py report --storm FILE --asset ID [--objects 50] [--origin URL] [--edge-log FILE]
      Reads the storm client's JSON (bench/cold_fill_storm.cpp: per viewer its object,
      send time, TTFB, total time, error), and prints one JSON line: viewers, failures,
      TTFB p50/p95/max, the client's send spread and CPU and, with --origin and
      --edge-log, where the time went, all relative to the storm's first request:
      when the edge started each fill and how long it waited for a fill worker
      (edge_fill_done lines), when the requests reached the origin and its heads left
      (the origin's /__stats), and how long the edge took from an object's head to each
      viewer's first byte (edge_forward_ms). Exits 1 if any viewer failed.

The timing-critical parts (the origin's pacing, sending 500 requests at once,
receiving and checking 500 MB) are the C++ programs bench/cold_fill_origin.cpp and
bench/cold_fill_storm.cpp; this only does arithmetic on what they recorded.
"""
import argparse
import json
import sys
import urllib.request


def q(v, p):
    return round(v[min(len(v) - 1, int(p * len(v)))], 1) if v else -1


def report(args):
    with open(args.storm) as f:
        st = json.load(f)
    recs = st.get("records", [])
    keys = [f"assets/{args.asset}/720p/seg_{i:05d}.ts" for i in range(args.objects)]
    t0_ms = st.get("t0_unix", 0) * 1000
    ttfb = sorted(r["ttfb_ms"] for r in recs if r["ttfb_ms"] >= 0)
    # When the client's one thread read the first byte (the TTFB above is when it
    # reached the socket): the difference is the client's own lag in a burst.
    ttfb_read = sorted(r.get("ttfb_read_ms", r["ttfb_ms"]) for r in recs if r["ttfb_ms"] >= 0)
    total = sorted(r["total_ms"] for r in recs if r["total_ms"] >= 0)
    where = {}
    if args.origin:
        with urllib.request.urlopen(args.origin + "/__stats") as r:
            o = json.load(r)
        arrived = sorted(o["arrived_at"][k] * 1000 - t0_ms for k in keys if k in o["arrived_at"])
        # When the kernel had each request (loopback: when the edge sent it), apart from
        # when the origin's one thread read it.
        rcvd = sorted(o["received_at"][k] * 1000 - t0_ms for k in keys if k in o.get("received_at", {}))
        head = {k: o["head_at"][k] * 1000 - t0_ms for k in keys if k in o["head_at"]}
        # From the object's head leaving the origin to each viewer's first byte.
        after = sorted(r["sent_ms"] + r["ttfb_ms"] - head[keys[r["o"]]]
                       for r in recs if r["ttfb_ms"] >= 0 and keys[r["o"]] in head)
        acc = sorted(o["accepted_at"][k] * 1000 - t0_ms for k in keys
                     if k in o["accepted_at"] and not o["reused"].get(k))
        head_ms = sorted(o["head_ms"][k] for k in keys if k in o["head_ms"])
        where = {"origin_new_connections": len(acc),
                 "origin_connected_after_ms_p50": q(acc, .5), "origin_connected_after_ms_max": q(acc, 1),
                 "origin_request_sent_after_ms_p50": q(rcvd, .5), "origin_request_sent_after_ms_max": q(rcvd, 1),
                 "origin_request_after_ms_p50": q(arrived, .5), "origin_request_after_ms_max": q(arrived, 1),
                 # The origin's own pacing: request to head, on its clock (target: ttfb).
                 "origin_paced_head_ms_p50": q(head_ms, .5), "origin_paced_head_ms_max": q(head_ms, 1),
                 "origin_head_after_ms_p50": q(sorted(head.values()), .5),
                 "origin_head_after_ms_max": q(sorted(head.values()), 1),
                 "edge_forward_ms_p50": q(after, .5), "edge_forward_ms_p95": q(after, .95),
                 "edge_forward_ms_max": q(after, 1)}
    if args.edge_log:
        # The edge's own clock for each fill (edge_fill_done lines): when the miss started
        # it, how long it waited for a fill worker, how long the origin took to its head.
        fills = {}
        with open(args.edge_log) as f:
            for line in f:
                if '"edge_fill_done"' in line:
                    d = json.loads(line)
                    fills[d["key"]] = d
        mine = [fills[k] for k in keys if k in fills]
        started = sorted(d["requested_unix_ms"] - t0_ms for d in mine)
        queued = sorted(d["queued_ms"] for d in mine)
        ohead = sorted(d["origin_head_ms"] for d in mine)
        got = sorted(d["requested_unix_ms"] - t0_ms + d["queued_ms"] + d["origin_head_ms"] for d in mine)
        where.update({"edge_fill_started_after_ms_p50": q(started, .5), "edge_fill_started_after_ms_max": q(started, 1),
                      "edge_fill_queued_ms_p50": q(queued, .5), "edge_fill_queued_ms_max": q(queued, 1),
                      "edge_origin_head_ms_p50": q(ohead, .5), "edge_origin_head_ms_max": q(ohead, 1),
                      "edge_got_head_after_ms_p50": q(got, .5), "edge_got_head_after_ms_max": q(got, 1)})
    out = {"viewers": st.get("viewers", len(recs)), "failed": st.get("failed", 0), "errors": st.get("errors", []),
           "ttfb_p50_ms": q(ttfb, .5), "ttfb_p95_ms": q(ttfb, .95), "ttfb_max_ms": q(ttfb, 1),
           "ttfb_read_p50_ms": q(ttfb_read, .5), "ttfb_read_p95_ms": q(ttfb_read, .95),
           "total_p50_ms": q(total, .5), "wall_ms": st.get("wall_ms", -1),
           # How long the client took to send all requests (its own share of the TTFBs).
           "send_spread_ms": st.get("send_spread_ms", -1),
           # CPU seconds the client used (it shares the cores with the edge), and the
           # kernel's part of it (receiving 500 MB: any client pays that).
           "client_cpu_s": st.get("client_cpu_s", -1), "client_sys_s": st.get("client_sys_s", -1),
           **where}
    print(json.dumps(out))
    return 1 if out["failed"] or "records" not in st else 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("report")
    r.add_argument("--storm", required=True, help="the storm client's JSON output")
    r.add_argument("--asset", required=True)
    r.add_argument("--objects", type=int, default=50)
    r.add_argument("--origin", help="the pacing origin's URL, for where the time goes")
    r.add_argument("--edge-log", help="the edge's log (edge_fill_done lines), for where the time goes")
    return report(p.parse_args())


if __name__ == "__main__":
    sys.exit(main())
