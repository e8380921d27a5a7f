"""Compares per-epoch logs and results of two sets of run folders (all keys except wall time)."""
import json, sys
from pathlib import Path
a, b = Path(sys.argv[1]), Path(sys.argv[2])
def strip(r):
    r = dict(r); r.pop("seconds", None); return r
ok = True
for name in ["test", "s", "sa", "sc", "sac", "dai", "pdt"]:
    if not (b / name / "results.json").is_file():
        print(f"{name}: not finished"); ok = False; continue
    la = [f.read_text().splitlines() for f in sorted((a / name).glob("fold_*/log.jsonl"))]
    lb = [f.read_text().splitlines() for f in sorted((b / name).glob("fold_*/log.jsonl"))]
    logs_same = [[json.loads(x) for x in f] for f in la] == [[json.loads(x) for x in f] for f in lb] or \
        json.dumps(la) == json.dumps(lb)
    ra = [strip(f) for f in json.loads((a / name / "results.json").read_text())["folds"]]
    rb = [strip(f) for f in json.loads((b / name / "results.json").read_text())["folds"]]
    res_same = ra == rb
    n = sum(len(f) for f in la)
    print(f"{name}: {n} epoch records, logs identical: {logs_same}, fold results identical: {res_same}, "
          f"test UA {[round(f['test']['ua'], 4) for f in rb]}")
    if not (logs_same and res_same):
        ok = False
        for fa, fb in zip(la, lb):
            for x, y in zip(fa, fb):
                if x != y: print("  before", x[:300]); print("  after ", y[:300]); break
print("ALL IDENTICAL" if ok else "DIFFERENCES")
