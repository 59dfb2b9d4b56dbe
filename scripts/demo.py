#!/usr/bin/env python3
"""``make demo``: OP25B on the embedded default, end to end.

Starts the real controller on a fresh SQLite database, loads the example
subscribers with the ``op25b`` CLI, builds the Mininet ISP lab, probes every
cell of the traffic matrix over IPv4 and IPv6 and prints it (expected vs
observed), then tears everything down. Exit status 1 if any cell differs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.lab import labkit, scenario  # noqa: E402
from topologies.isp import EDGE_DPID, EDGE_SWITCH  # noqa: E402


def main() -> int:
    labkit.require_lab()
    with labkit.temp_workdir() as workdir:
        db_url = f"sqlite:///{workdir / 'op25b.db'}"
        print(f"database: {db_url}")
        scenario.load_example(db_url)
        print(scenario.op25b(db_url, "subscriber", "list").stdout)
        controller = labkit.ControllerProcess(db_url, workdir).start()
        print(f"controller: op25b-controller on 127.0.0.1:{controller.port}")
        lab = labkit.Lab(controller.port, workdir)
        try:
            started = time.monotonic()
            lab.start()
            print(f"lab: switches connected in {time.monotonic() - started:.1f} s")
            scenario.start_servers(lab)
            print(f"\nop25b policy show --dpid {EDGE_DPID}:")
            print(scenario.op25b(db_url, "policy", "show", "--dpid", str(EDGE_DPID)).stdout)
            print("probing the traffic matrix (blocked = the SYN never got an answer)...\n")
            cells = scenario.run_matrix(lab)
            print(scenario.format_matrix(cells))
            bad = [c for c in cells if c[4] != c[5]]
            print(f"\n{len(cells) - len(bad)} of {len(cells)} cells as expected")
            print(f"\n{EDGE_SWITCH} entries (ovs-ofctl dump-flows):")
            for line in labkit.dump_flows(EDGE_SWITCH):
                print("  " + line)
            return 1 if bad else 0
        finally:
            lab.stop()
            controller.stop()


if __name__ == "__main__":
    sys.exit(main())
