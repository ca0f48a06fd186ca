"""Progress of a stage: the line a person reads, the workers' counter files summed, and a real stage run
that reports records (not shards) as it goes."""

import logging

from pipelines import encode
from pipelines.core.progress import count_records, counted, flush_counts, progress_line
from pipelines.corpus import captions
from tests.conftest import IN_PROCESS
from tests.tiny_models import random_encoder


def test_progress_line_has_count_share_rate_and_eta():
    assert progress_line("encode", 12_800, 40_460, 61.0) == "[encode] 12,800/40,460 records (31%) 210 rec/s, ETA 2m12s"
    assert progress_line("encode", 40_460, 40_460, 3700.0) == "[encode] 40,460/40,460 records (100%) 11 rec/s, in 1h01m"
    assert progress_line("features", 0, 96, 0.0) == "[features] 0/96 records (0%) 0 rec/s, ETA ?"
    assert progress_line("corpus-novels", 5_000, None, 9.6) == "[corpus-novels] 5,000 records, 521 rec/s, 10s"


def test_counter_files_of_every_process_add_up(tmp_path):
    folder = tmp_path / ".tmp-progress-run"
    folder.mkdir()
    for records in (3, 4, 0):
        count_records(str(folder), records)
    flush_counts()
    (folder / "4242-otherproc").write_text("10")  # another worker process's counter
    (folder / ".tmp-0123-4242-otherproc").write_text("99")  # its next write, not yet renamed
    assert counted(folder) == 17
    count_records("", 5)  # a task without a progress folder counts nothing
    assert counted(tmp_path / "missing") == 0


def test_a_stage_run_logs_records_done_of_the_total(tmp_path, caplog):
    (tmp_path / "caps.csv").write_text("image,caption\n1.jpg,A dog runs .\n2.jpg,Two cats .\n3.jpg,   \n4.jpg,a .\n")
    captions.run(str(tmp_path / "caps.csv"), "c", tmp_path / "ws", captions.CaptionParams("csv"), IN_PROCESS)
    model = random_encoder(tmp_path / "tiny", ["<eos>", "UNK", "a", "dog", "runs", "."])
    with caplog.at_level(logging.INFO, logger="storyteller"):
        encode.run(encode.EncodeParams(str(model)), "c", "captions", tmp_path / "ws", IN_PROCESS)
    lines = [record.getMessage() for record in caplog.records if record.name == "storyteller.progress"]
    assert lines and lines[-1].startswith("[encode] 3/3 records (100%) ")
    assert not list((tmp_path / "ws" / "vectors").rglob(".tmp-progress-*"))  # the counters go with the run


def test_eta_comes_from_the_steady_rate_not_the_start_up():
    # 256 records after a 40 s model load, then 2,560 more in 2 s: the ETA follows the 1,280 rec/s.
    assert progress_line("encode", 2816, 40460, 42.0, eta_rate=1280.0).endswith("67 rec/s, ETA 29s")
    assert progress_line("encode", 256, 40460, 40.0, eta_rate=0.0).endswith("ETA ?")
