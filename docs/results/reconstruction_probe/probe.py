"""A only on the tiny test config: does the reconstruction MSE beat the per-cell training mean?"""
import sys, numpy as np
from configs import test as tc
from ser_jax import train, feature_cache, features, input_pipeline, protocols
from ser_jax.corpora import load_corpus
opt = sys.argv[1]; epochs = int(sys.argv[2]); wd = sys.argv[3]
c = tc.get_config(); c.data.root = "/work/shared/data/emodb"; c.cache_dir = "/tmp/eqcache"
c.signals.softmax.weight = 0.0; c.signals.center.weight = 0.0
c.train.update(epochs=epochs, max_folds=1)
if opt != "adadelta":
    c.optim.name, c.optim.learning_rate = opt, float(wd.split("_")[-1])
s = train.train_and_evaluate(c, wd, out=print)
corpus = load_corpus(c.data, c.cache_dir)
store = feature_cache.load_or_compute(corpus, features.FeatureParams.from_config(c.features), c.cache_dir)
fold = protocols.make_folds(c.protocol, corpus)[0]
p = store.params
scaler = input_pipeline.fit_scaler(c.train.input_scaling, store, corpus.record_index[fold.train],
                                   features.valid_frames(corpus.num_samples[fold.train], p), per_bin=c.train.scaling_per_bin)
shape = input_pipeline.InputShape.from_config(c.train, p)
tr = input_pipeline.Source(store, corpus.record_index[fold.train], corpus.labels[fold.train], scaler, shape).features_of(np.arange(len(fold.train)))[0]
te = input_pipeline.Source(store, corpus.record_index[fold.test], corpus.labels[fold.test], scaler, shape).features_of(np.arange(len(fold.test)))[0]
base = float(np.mean((te - tr.mean(axis=0)) ** 2))
print("RESULT", opt, "test recon mse", s["mean"]["recon_mse"], "per-cell mean baseline", base, "const 0.5", float(np.mean((te-0.5)**2)))
