commit 17a5e84; start Tue Dec  1 22:37:02 UTC 2026
taskset -c 0 python run.py --config configs/egemaps_svm.py --workdir OUT/egemaps_svm --config.data.corpus=manifest --config.data.manifest=OUT/female.csv --config.data.root= --config.eval.corpora="('corpus=manifest;manifest=OUT/male.csv',)"
end Tue Dec  1 22:38:00 UTC 2026 rc 0
