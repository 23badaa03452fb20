"""Hard-negative mining with the real bundled all-MiniLM-L6-v2 on tiny data.

The miner is checked against a brute-force full score matrix computed with the
same model: the streamed top-k (any chunk size) must pick the same negatives,
the rank window and the false-negative guard must do what they say, and no
mined negative may be a positive or a labelled negative.
"""

from __future__ import annotations

import json

import pytest

from wrapper.prepare import PrepareOptions, prepare
from wrapper.prepare.mining import mine
from wrapper.prepare.records import Collector


TOPICS = {
    "How do I reset my password?": "Click 'Forgot password' on the sign-in page to get a reset link by email.",
    "What is the capital of France?": "Paris is the capital and largest city of France.",
    "How tall is Mount Everest?": "Mount Everest is 8,849 metres above sea level.",
    "Who wrote Hamlet?": "Hamlet is a tragedy written by William Shakespeare around 1600.",
    "When does the train to Berlin leave?": "The next train to Berlin departs from platform 4 at 9:15.",
    "How do I cook rice?": "Rinse the rice, add two cups of water per cup, and simmer for 18 minutes.",
}
DISTRACTORS = [
    "To change a password you still know, open Profile > Security.",
    "Passwords must be at least 12 characters long.",
    "Lyon is a large city in France known for its food.",
    "France borders Spain, Italy, Germany and Belgium.",
    "K2 is the second-highest mountain on Earth.",
    "Mountaineers climb Everest mostly in May.",
    "Macbeth is another tragedy by Shakespeare.",
    "Shakespeare was born in Stratford-upon-Avon.",
    "Trains to Munich leave every hour from platform 2.",
    "Berlin is the capital of Germany.",
    "Pasta should be cooked in salted boiling water.",
    "Brown rice takes longer to cook than white rice.",
    "The weather today is sunny with light wind.",
    "Cats sleep for up to sixteen hours a day.",
]


@pytest.fixture(scope="module")
def model(bundled_model_path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(bundled_model_path), device="cpu")


def build(labelled_negative: bool = False) -> Collector:
    c = Collector()
    for q, p in TOPICS.items():
        row = c.new_row()
        entry = c.query(q)
        c.add(row, entry, p, positive=True)
    if labelled_negative:
        row = c.new_row()
        c.add(row, c.query("Who wrote Hamlet?"), DISTRACTORS[6], positive=False)
    for d in DISTRACTORS:
        c.add_to_pool(d)
    return c


def brute_force(model, collector: Collector, query: str):
    """All pool passages ranked for `query` by the full score matrix."""
    q = model.encode_query([query], normalize_embeddings=True, convert_to_tensor=True)
    d = model.encode_document(collector.passages, normalize_embeddings=True, convert_to_tensor=True)
    scores = (q @ d.T)[0].tolist()
    return sorted(range(len(scores)), key=lambda i: -scores[i]), scores


def options(**kw) -> PrepareOptions:
    kw.setdefault("progress", False)
    kw.setdefault("margin", None)
    return PrepareOptions(**kw)


@pytest.mark.slow
def test_streamed_top_k_equals_brute_force_for_any_chunk_size(model):
    results = []
    for chunk in (3, 7, 10_000):
        c = build()
        stats = mine(c, {q: 3 for q in TOPICS}, options(num_negatives=3, chunk_size=chunk), model=model)
        assert stats.queries == len(TOPICS) and stats.mined_total == 3 * len(TOPICS)
        results.append({q: list(e.mined) for q, e in c.queries.items()})
    assert results[0] == results[1] == results[2]
    c = build()
    for q, mined in results[0].items():
        order, _ = brute_force(model, c, q)
        positives = set(c.queries[q].pos)
        expected = [pid for pid in order if pid not in positives][:3]
        assert mined == expected, q


@pytest.mark.slow
def test_faiss_search_mines_what_the_exact_stream_mines_and_says_so(model):
    """A small pool is one IVF cell per few passages, all probed: the same negatives as the exact search."""
    mined = {}
    for method in ("exact", "faiss"):
        c = build()
        stats = mine(c, {q: 3 for q in TOPICS}, options(num_negatives=3, chunk_size=4, ann=method), model=model)
        mined[method] = {q: list(e.mined) for q, e in c.queries.items()}
        assert stats.as_manifest()["ann"]["method"] == method
    assert mined["faiss"] == mined["exact"]
    assert stats.ann["index"] == "IndexIVFFlat" and stats.ann["nprobe"] == stats.ann["nlist"]


@pytest.mark.slow
def test_two_encoding_processes_give_the_embeddings_of_one(model):
    """`--encode-processes 2` spreads the encoding over sentence-transformers' multi-process pool (two CPU
    processes here; one per GPU with 0): the same embeddings as one process."""
    from wrapper.scoring import encode_sorted

    texts = list(TOPICS.values()) + DISTRACTORS
    pool = model.start_multi_process_pool(["cpu", "cpu"])
    try:
        spread = encode_sorted(model.encode_document, model, texts, 4, pool=pool)
    finally:
        model.stop_multi_process_pool(pool)
    here = encode_sorted(model.encode_document, model, texts, 4)
    assert spread.shape == here.shape and (spread - here).abs().max() < 1e-5
    from wrapper.prepare.mining import _encode_pool

    assert _encode_pool(model, 1) is None and _encode_pool(model, 0) is None  # no GPUs here: encode in-process


def test_faiss_finds_the_exact_neighbours_of_a_large_pool():
    """20,000 unit vectors around 400 topics (text embeddings cluster by topic), 200 queries near some of
    them: the IVF index (probing 128 of its 312 cells) returns at least 95% of each exact top-10."""
    import torch

    from wrapper.prepare import ann

    gen = torch.Generator().manual_seed(0)
    topics = torch.nn.functional.normalize(torch.randn(400, 64, generator=gen), dim=1)
    pool = topics[torch.randint(0, 400, (20_000,), generator=gen)] + 0.15 * torch.randn(20_000, 64, generator=gen)
    pool = torch.nn.functional.normalize(pool, dim=1)
    queries = torch.nn.functional.normalize(pool[:200] + 0.05 * torch.randn(200, 64, generator=gen), dim=1)
    found = {}
    for method in ("exact", "faiss"):
        search = ann.make(method, queries, 10, len(pool))
        for start in range(0, len(pool), 3000):
            search.add(pool[start:start + 3000], start)
        found[method] = search.result()[1].tolist()
    hits = sum(len(set(a) & set(b)) for a, b in zip(found["exact"], found["faiss"]))
    assert hits / (200 * 10) >= 0.95
    assert ann.choose("auto", 5_000, 100_000) == "exact" and ann.choose("auto", 1_000_000, 1_000) == "exact"
    assert ann.choose("auto", 1_000_000, 50_000) == "faiss" and ann.choose("exact", 1_000_000, 50_000) == "exact"


@pytest.mark.slow
def test_rank_window_skips_the_top_hits(model):
    c0, c2 = build(), build()
    mine(c0, {q: 5 for q in TOPICS}, options(num_negatives=5), model=model)
    mine(c2, {q: 3 for q in TOPICS}, options(num_negatives=3, range_min=2), model=model)
    for q in TOPICS:
        assert c2.queries[q].mined == c0.queries[q].mined[2:5]


@pytest.mark.slow
def test_false_negative_guard_drops_candidates_close_to_the_positive(model):
    c = build()
    # an unlabelled near-copy of a positive: the classic false negative
    near_copy = "Paris is the capital city of France, and its largest city."
    c.add_to_pool(near_copy)
    stats = mine(c, {q: 3 for q in TOPICS}, options(num_negatives=3, margin=0.05), model=model)
    paris = c.queries["What is the capital of France?"]
    assert c.passage_ids[near_copy] not in paris.mined
    assert stats.removed_by_false_negative_guard >= 1
    # every kept negative respects the margin relative to the positive
    _, scores = brute_force(model, c, "What is the capital of France?")
    pos_score = scores[next(iter(paris.pos))]
    assert all(scores[pid] <= pos_score - abs(pos_score) * 0.05 + 1e-5 for pid in paris.mined)
    # without the guard, the near-copy is the hardest "negative"
    c_off = build()
    c_off.add_to_pool(near_copy)
    mine(c_off, {q: 3 for q in TOPICS}, options(num_negatives=3), model=model)
    assert c_off.queries["What is the capital of France?"].mined[0] == c_off.passage_ids[near_copy]


@pytest.mark.slow
def test_held_out_queries_get_the_plain_top_hits_without_guard_or_window(model):
    """Evaluation candidates are the retrieve-then-rerank setting: a guarded list would drop
    exactly what the miner ranks above the positive, and the base model would score a perfect
    MAP on it whatever a fine-tune does."""
    near_copy = "Paris is the capital city of France, and its largest city."
    paris = "What is the capital of France?"
    c = build()
    c.add_to_pool(near_copy)
    stats = mine(c, {q: 3 for q in TOPICS}, options(num_negatives=3, margin=0.05, range_min=1, random_negatives=1),
                 model=model, held_out={paris})
    order, _ = brute_force(model, c, paris)
    positives = set(c.queries[paris].pos)
    assert c.queries[paris].mined == [pid for pid in order if pid not in positives][:3]
    assert c.queries[paris].mined[0] == c.passage_ids[near_copy]
    # training queries still get the window, the guard and the random mix
    assert stats.random_negatives == len(TOPICS) - 1
    for q in TOPICS:
        if q != paris:
            assert len(c.queries[q].mined) <= 3


@pytest.mark.slow
def test_labelled_negatives_count_and_are_never_mined_again(model):
    c = build(labelled_negative=True)
    mine(c, {q: 2 for q in TOPICS}, options(num_negatives=2), model=model)
    hamlet = c.queries["Who wrote Hamlet?"]
    assert len(hamlet.neg) == 1 and len(hamlet.mined) == 1  # topped up to 2
    assert not set(hamlet.mined) & set(hamlet.neg)
    for entry in c.queries.values():
        assert not set(entry.mined) & set(entry.pos)
        assert len(set(entry.mined)) == len(entry.mined)


@pytest.mark.slow
def test_random_negatives_mix(model):
    c = build()
    stats = mine(c, {q: 4 for q in TOPICS}, options(num_negatives=4, random_negatives=2, seed=3), model=model)
    assert stats.random_negatives == 2 * len(TOPICS)
    for entry in c.queries.values():
        assert len(entry.mined) == 4 and not set(entry.mined) & set(entry.pos)


def test_no_model_is_loaded_when_no_query_needs_mining(tmp_path):
    c = Collector()
    for i in range(3):
        row = c.new_row()
        e = c.query(f"q{i}")
        c.add(row, e, f"p{i}", positive=True)
        c.add(row, e, f"n{i}", positive=False)
    stats = mine(c, {f"q{i}": 1 for i in range(3)}, options(num_negatives=1, miner="/does/not/exist"))
    assert stats.queries == 0 and stats.miner is None


@pytest.mark.slow
def test_prepare_with_mining_end_to_end(tmp_path):
    import csv

    src = tmp_path / "pos.csv"
    with open(src, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["query", "positive"])
        for q, p in TOPICS.items():
            w.writerow([q, p])
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(DISTRACTORS) + "\n", encoding="utf-8")
    report = prepare([src], tmp_path / "out", PrepareOptions(num_negatives=2, val_ratio=0.34, corpus=(str(corpus),),
                                                              progress=False))
    m = report.manifest
    assert m["has_negatives"] is True
    assert m["mining"]["queries"] == len(TOPICS)
    assert m["mining"]["pool_size"] == len(TOPICS) + len(DISTRACTORS)
    from wrapper import precision

    assert m["mining"]["precision"] == precision.resolve("auto")  # prepare's default: auto
    assert m["splits"]["train"]["triplets"] == 2 * m["splits"]["train"]["queries"]
    for line in (tmp_path / "out/eval/validation.jsonl").read_text().splitlines():
        rec = json.loads(line)
        assert len(rec["negative"]) == 4  # 2 x num_negatives candidates for evaluation
        assert not set(rec["negative"]) & set(rec["positive"])
    assert "mining: 6 queries" in report.summary()


@pytest.mark.slow
def test_token_sorted_encoding_returns_input_order(model):
    """Batches of similar token length (one `encode` call each) give each text its own embedding."""
    from wrapper.scoring import encode_sorted, token_lengths

    texts = list(TOPICS.values()) + DISTRACTORS
    lengths = token_lengths(model, texts)
    assert lengths is not None and len(set(lengths)) > 3
    direct = model.encode_document(texts, normalize_embeddings=True, convert_to_tensor=True)
    for batch_size in (3, 5, 64):  # 64: one batch, sentence-transformers' own order
        got = encode_sorted(model.encode_document, model, texts, batch_size, False)
        assert got.shape == direct.shape
        assert float((got - direct).abs().max()) < 1e-5, batch_size


@pytest.mark.slow
def test_bf16_miner_mines_like_fp32_and_the_precision_is_recorded(bundled_model_path):
    """A loaded miner runs in options.precision: bf16 weights (fp32 pooling) pick the same negatives
    as fp32 on this data, and the stats say which precision ran; a model passed in is left alone."""
    import torch

    from wrapper.prepare.mining import load_miner

    mined, precisions = {}, {}
    for prec in ("fp32", "bf16"):
        c = build()
        held_out = {list(TOPICS)[0]}
        stats = mine(c, {q: 3 for q in TOPICS}, options(num_negatives=3, batch_size=2, precision=prec),
                     held_out=held_out, loader=lambda: load_miner(str(bundled_model_path)))
        mined[prec] = {q: list(e.mined) for q, e in c.queries.items()}
        precisions[prec] = stats.precision
        assert stats.as_manifest()["precision"] == prec
    assert precisions == {"fp32": "fp32", "bf16": "bf16"}
    assert mined["bf16"] == mined["fp32"]
    fp32_model = load_miner(str(bundled_model_path))
    stats = mine(build(), {q: 1 for q in TOPICS}, options(num_negatives=1, precision="bf16"), model=fp32_model)
    assert stats.precision == "fp32" and next(fp32_model.parameters()).dtype == torch.float32


def test_prepare_precision_option_is_checked():
    from wrapper.errors import InputError

    assert PrepareOptions().precision == "auto"
    with pytest.raises(InputError, match="--precision"):
        PrepareOptions.build(precision="fp8")


def _write_sources(tmp_path, labelled_negative: bool = False):
    import csv

    src = tmp_path / "pairs.csv"
    with open(src, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["query", "passage", "label"])
        for q, p in TOPICS.items():
            w.writerow([q, p, 1])
        if labelled_negative:
            w.writerow(["Who wrote Hamlet?", DISTRACTORS[6], 0])
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(DISTRACTORS) + "\n", encoding="utf-8")
    return src, corpus


def _train_records(out):
    return [json.loads(line) for line in (out / "flagembedding/train.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("random_negatives", [0, 1])
def test_teacher_scores_are_the_miners_and_match_a_recomputation(tmp_path, model, random_negatives):
    """Default teacher = the miner: pos_scores/neg_scores are 20 x its cosine, kept from mining (random
    negatives and labelled ones scored afterwards), equal to a fresh computation with the same model."""
    src, corpus = _write_sources(tmp_path, labelled_negative=True)
    report = prepare([src], tmp_path / "out", PrepareOptions(num_negatives=3, val_ratio=0.34, corpus=(str(corpus),),
                                                              random_negatives=random_negatives, progress=False,
                                                              precision="fp32"))  # recomputed in fp32 below
    assert report.manifest["mining"]["precision"] == "fp32"
    records = _train_records(tmp_path / "out")
    assert records
    for r in records:
        assert len(r["pos_scores"]) == len(r["pos"]) and len(r["neg_scores"]) == len(r["neg"]) == 3
        q = model.encode_query([r["query"]], normalize_embeddings=True)
        d = model.encode_document(r["pos"] + r["neg"], normalize_embeddings=True)
        expected = (20.0 * (d @ q.T)).ravel().tolist()
        assert r["pos_scores"] + r["neg_scores"] == pytest.approx(expected, abs=2e-3)
    teacher = report.manifest["teacher"]
    pairs = sum(len(r["pos"]) + len(r["neg"]) for r in records)
    assert teacher["kind"] == "bi-encoder" and teacher["source"] == "miner" and teacher["pairs"] == pairs
    assert teacher["scale"] == 20.0
    if random_negatives:  # random negatives were never in the miner's top hits: scored afterwards
        assert teacher["pairs_from_mining"] < pairs
    else:
        assert teacher["pairs_from_mining"] == pairs
    assert report.manifest["options"]["teacher"] == "miner"
    assert "teacher scores:" in report.summary()


@pytest.mark.slow
def test_a_cross_encoder_teacher_scores_every_pair_with_its_raw_logits(tmp_path, bundled_model_path):
    import torch
    from sentence_transformers import CrossEncoder

    torch.manual_seed(0)
    folder = tmp_path / "teacher-ce"
    CrossEncoder(str(bundled_model_path), num_labels=1, device="cpu").save_pretrained(str(folder))
    src, corpus = _write_sources(tmp_path)
    report = prepare([src], tmp_path / "out", PrepareOptions(num_negatives=2, val_ratio=0.34, corpus=(str(corpus),),
                                                              teacher=str(folder), progress=False))
    teacher = report.manifest["teacher"]
    assert teacher["kind"] == "cross-encoder" and teacher["source"] == "teacher" and teacher["pairs_from_mining"] == 0
    ce = CrossEncoder(str(folder), device="cpu")
    for r in _train_records(tmp_path / "out"):
        docs = r["pos"] + r["neg"]
        expected = ce.predict([(r["query"], d) for d in docs], activation_fn=torch.nn.Identity()).tolist()
        assert r["pos_scores"] + r["neg_scores"] == pytest.approx(expected, abs=1e-3)


@pytest.mark.slow
def test_teacher_off_or_no_mining_keeps_no_scores_and_a_bad_teacher_is_named(tmp_path):
    from wrapper.errors import InputError

    src, corpus = _write_sources(tmp_path, labelled_negative=True)
    for name, extra in (("off", {"teacher": None}), ("nomine", {"mine": False})):
        report = prepare([src], tmp_path / name, PrepareOptions(num_negatives=1, val_ratio=0.34, progress=False,
                                                                  corpus=(str(corpus),), **extra))
        assert report.manifest["teacher"] is None
        assert all("pos_scores" not in r for r in _train_records(tmp_path / name))
    with pytest.raises(InputError, match="--teacher '/does/not/exist'"):
        prepare([src], tmp_path / "bad", PrepareOptions(num_negatives=1, val_ratio=0.34, progress=False,
                                                          teacher="/does/not/exist"))
