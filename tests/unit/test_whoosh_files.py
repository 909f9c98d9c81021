"""Whoosh segment files are read where they are mapped, not copied per reader."""
from __future__ import annotations

import io
import pickle
import tracemalloc
from pathlib import Path

from whoosh.filedb.structfile import BufferFile

from callboard.search.backend import Document
from callboard.search.whoosh_backend import WhooshBackend
from callboard.search.whoosh_files import ViewFile


def test_view_file_reads_like_a_file():
    data = b"first line\nsecond\n" + pickle.dumps({"a": [1, 2, 3]}) + b"tail"
    f = ViewFile(memoryview(data))
    assert f.readline() == b"first line\n"
    assert f.read(3) == b"sec"
    assert f.tell() == 14
    assert f.readline() == b"ond\n"
    assert pickle.load(f) == {"a": [1, 2, 3]}
    assert f.read() == b"tail"
    assert f.read(5) == b""
    f.seek(-4, io.SEEK_END)
    assert f.read(2) == b"ta"
    f.seek(2, io.SEEK_CUR)
    assert f.read() == b""
    f.seek(0)
    assert list(f)[:2] == [b"first line\n", b"second\n"]
    long = b"x" * 5000 + b"\nrest"
    assert ViewFile(long).readline() == b"x" * 5000 + b"\n"
    assert ViewFile(long).readline(10) == b"x" * 10


def test_whoosh_buffer_files_do_not_copy():
    buf = bytearray(b"0123456789")
    f = BufferFile(memoryview(buf))
    buf[0:1] = b"9"  # a copy would not see the change
    assert f.read(3) == b"912"


def test_opening_a_reader_does_not_copy_the_index(tmp_path: Path):
    backend = WhooshBackend(tmp_path)
    for start in (0, 3000):  # two segments
        with backend.writing(1) as batch:
            for i in range(start, start + 3000):
                batch.add(Document("customer", i + 1, title=f"Nguyen Van {i}",
                                   keywords=f"8490{i:07d} 090{i:07d} c{i}@example.vn",
                                   body=f"meter M{i:06d} district {i % 97}"))
    on_disk = sum(p.stat().st_size for p in (tmp_path / "tenant-1" / "records").glob("*.seg"))
    ix = backend._index(1, "records")
    tracemalloc.start()
    try:
        reader = ix.reader()
        assert ("key", "customer:1") in reader and ("key", "customer:6000") in reader
        assert ("key", "customer:6001") not in reader
        _, peak = tracemalloc.get_traced_memory()
        reader.close()
    finally:
        tracemalloc.stop()
        backend.close()
    assert on_disk > 500_000
    assert peak < on_disk / 10, f"a reader took {peak} bytes for {on_disk} bytes of index"


def test_written_files_count_their_position(tmp_path: Path):
    """The position Whoosh reads while writing is where the bytes really are."""
    from array import array

    from whoosh.filedb.filestore import FileStorage

    storage = FileStorage(str(tmp_path))
    f = storage.create_file("seg.bin")
    assert type(f.file).__name__ == "CountedFile"
    marks = []
    for i in range(300):
        marks.append(f.tell())
        f.write_varint(i * 1000)
        f.write_string(f"term {i}".encode())
        f.write_array(array("I", range(i % 7)))
    end = f.tell()
    f.seek(marks[5])
    assert f.tell() == marks[5]
    f.seek(0, io.SEEK_END)
    assert f.tell() == end
    f.close()
    assert (tmp_path / "seg.bin").stat().st_size == end
    r = storage.open_file("seg.bin")
    r.seek(marks[250])
    assert r.read_varint() == 250_000 and r.read_string() == b"term 250"


def test_a_missing_length_column_is_looked_for_once(tmp_path: Path):
    """Writing a segment asks for a field's lengths for every posting: a field without
    a length column is looked for on disk once per reader, not every time."""
    from whoosh import fields, index

    schema = fields.Schema(key=fields.ID(stored=True), body=fields.TEXT)
    ix = index.create_in(str(tmp_path), schema)
    with ix.writer() as w:
        for i in range(50):
            w.add_document(key=f"k{i}", body=f"word{i % 5} common")
    looked: list[str] = []
    storage = ix.storage
    exists = storage.file_exists
    storage.file_exists = lambda name: looked.append(name) or exists(name)
    with ix.reader() as reader:
        perdoc = reader.segment_readers()[0]._perdoc if hasattr(
            reader, "segment_readers") else reader._perdoc
        assert [perdoc.doc_field_length(n, "key") for n in range(50)] == [0] * 50
        assert [perdoc.doc_field_length(n, "body") for n in range(50)] == [2] * 50
    assert [n for n in looked if "_key_len" in n] == looked[:1], looked  # once, not 50
