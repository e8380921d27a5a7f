commit 17a5e84; start Tue Dec  1 22:38:00 UTC 2026
taskset -c 0 python run.py --config configs/s.py --workdir OUT/s --config.data.corpus=manifest --config.data.manifest=OUT/female.csv --config.data.root= --config.eval.corpora="('corpus=manifest;manifest=OUT/male.csv',)"
end Tue Dec  1 22:48:53 UTC 2026 rc 0
