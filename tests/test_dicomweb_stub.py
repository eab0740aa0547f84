"""scan_dicomweb against a tiny DICOMweb stub on 127.0.0.1: paging, failures, auth.

The stub serves two studies of two series of three CT instances each (built with
``make_dataset``) and misbehaves on demand: ignores ``offset``, caps pages, fails
with 401/403/500, answers with junk or with another series, or answers too late.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import polars as pl
import pytest
from pydicom import dcmread, dcmwrite
from pydicom.dataset import FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

import dicomkit as dk
from dicomkit.cli import main
from dicomkit.io import dicomweb
from dicomkit.io.dicomweb.multipart import split_parts
from tests.conftest import UID_ROOT, make_dataset
from tests.test_frames import enhanced_ct

SECRET = "Bearer s3cr3t-t0ken"


@dataclass
class Stub:
    """What the stub serves and how it misbehaves; ``log`` records each request."""

    url: str = ""
    studies: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    log: list[tuple[str, dict[str, list[str]], dict[str, str]]] = field(
        default_factory=list
    )
    ignore_offset: bool = False
    cap: int | None = None  # at most this many items a page, with a Warning header
    cap_warning: bool = True
    require_auth: bool = False
    forbid: bool = False
    fail_study_page: int | None = None  # HTTP 500 for this offset of /studies
    fail_series: dict[str, int | str] = field(default_factory=dict)
    delay: float = 0.0
    extra_count: int = 0  # QIDO says this many more instances than it serves
    studies_body: bytes | None = None  # answer /studies with these bytes
    hidden: set[str] = field(default_factory=set)  # 404 for these instance URLs
    trickle: bool = False  # /studies answers a byte every 50 ms, for 10 s

    def paths(self, kind: str) -> list[str]:
        return [p for p, _, _ in self.log if p.endswith(kind) or kind in p]


def _series_json(study: str, series: str, n: int) -> dict[str, Any]:
    return {
        "0020000D": {"vr": "UI", "Value": [study]},
        "0020000E": {"vr": "UI", "Value": [series]},
        "00080060": {"vr": "CS", "Value": ["CT"]},
        "00201209": {"vr": "IS", "Value": [n]},
    }


def _build(stub: Stub) -> None:
    for s in range(2):
        study = f"{UID_ROOT}1.{s}"
        stub.studies[study] = {}
        for r in range(2):
            series = f"{UID_ROOT}2.{s}.{r}"
            items = []
            for i in range(3):
                sop = f"{UID_ROOT}3.{s}.{r}.{i}"
                ds = make_dataset(
                    StudyInstanceUID=study,
                    SeriesInstanceUID=series,
                    SOPInstanceUID=sop,
                    PatientID=f"P{s}",
                    InstanceNumber=i + 1,
                    SeriesNumber=r + 1,
                    ImagePositionPatient=[0.0, 0.0, float(i)],
                )
                ds.PixelData = (np.arange(16, dtype=np.int16) + i).tobytes()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    js = ds.to_json_dict(
                        bulk_data_threshold=8,
                        bulk_data_element_handler=lambda _: "http://127.0.0.1:1/bulk",
                    )
                items.append(js)
                meta = FileMetaDataset()
                meta.MediaStorageSOPClassUID = ds.SOPClassUID
                meta.MediaStorageSOPInstanceUID = UID(sop)
                meta.TransferSyntaxUID = ExplicitVRLittleEndian
                ds.file_meta = meta
                out = io.BytesIO()
                dcmwrite(out, ds, enforce_file_format=True)
                stub.files[sop] = out.getvalue()
            stub.studies[study][series] = items


class _Handler(BaseHTTPRequestHandler):
    stub: Stub

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet

    def _send(self, status: int, body: bytes, kind: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, data: Any, **headers: str) -> None:
        self._send(200, json.dumps(data).encode(), "application/dicom+json", **headers)

    def do_GET(self) -> None:
        stub = self.stub
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        stub.log.append((parts.path, query, dict(self.headers)))
        if stub.delay:
            time.sleep(stub.delay)
        if stub.require_auth and self.headers.get("Authorization") != SECRET:
            self._send(401, b"{}", "application/json")
            return
        if stub.forbid:
            self._send(403, b"{}", "application/json")
            return
        segments = [s for s in parts.path.split("/") if s][1:]  # after dicom-web
        if segments == ["studies"] and stub.trickle:
            self.send_response(200)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", "200")
            self.end_headers()
            for _ in range(200):
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    return  # the client gave up
                time.sleep(0.05)
        elif segments == ["studies"] and stub.studies_body is not None:
            self._send(200, stub.studies_body, "application/dicom+json")
        elif segments == ["studies"]:
            offset = int(query.get("offset", ["0"])[0])
            if stub.fail_study_page is not None and offset == stub.fail_study_page:
                self._send(500, b"boom", "text/plain")
                return
            items = [
                {
                    "0020000D": {"vr": "UI", "Value": [uid]},
                    "00100020": {"vr": "LO", "Value": ["P"]},
                }
                for uid in stub.studies
            ]
            self._page(items, query)
        elif len(segments) == 3 and segments[2] == "series":
            study = segments[1]
            listed = stub.studies.get(study, {})
            self._page(
                [
                    _series_json(study, s, len(v) + stub.extra_count)
                    for s, v in listed.items()
                ],
                query,
            )
        elif len(segments) == 5 and segments[4] == "metadata":
            study, series = segments[1], segments[3]
            failure = stub.fail_series.get(series)
            if isinstance(failure, int):
                self._send(failure, b"{}", "application/json")
            elif failure == "slow":
                time.sleep(1.5)
                self._json(stub.studies[study][series])
            elif failure == "malformed":
                self._send(200, b'[{"0020000D": ', "application/dicom+json")
            elif failure == "object":
                self._json({"not": "an array"})
            elif failure == "wrong_series":
                other = next(s for s in stub.studies[study] if s != series)
                self._json(stub.studies[study][other])
            elif series in stub.studies.get(study, {}):
                self._json(stub.studies[study][series])
            else:
                self._send(404, b"{}", "application/json")
        elif len(segments) == 6 and segments[4] == "instances":
            data = stub.files.get(segments[5])
            if data is None or segments[5] in stub.hidden:
                self._send(404, b"{}", "application/json")
                return
            self._multipart([data])
        elif len(segments) == 4 and segments[2] == "series":
            items = stub.studies.get(segments[1], {}).get(segments[3], [])
            sops = [item["00080018"]["Value"][0] for item in items]
            self._multipart([stub.files[sop] for sop in sops])
        else:
            self._send(404, b"{}", "application/json")

    def _multipart(self, files: list[bytes]) -> None:
        boundary = "dicomkit-stub-boundary"
        body = b"".join(
            f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
            + data
            + b"\r\n"
            for data in files
        )
        body += f"--{boundary}--\r\n".encode()
        kind = f'multipart/related; type="application/dicom"; boundary={boundary}'
        self._send(200, body, kind)

    def _page(self, items: list[Any], query: dict[str, list[str]]) -> None:
        limit = int(query.get("limit", [str(len(items) or 1)])[0])
        offset = 0 if self.stub.ignore_offset else int(query.get("offset", ["0"])[0])
        size = limit if self.stub.cap is None else min(limit, self.stub.cap)
        page = items[offset : offset + size]
        capped = self.stub.cap is not None and len(items) - offset > self.stub.cap
        headers = (
            {"Warning": '299 127.0.0.1 "The number of results exceeded the limit"'}
            if capped and self.stub.cap_warning
            else {}
        )
        self._json(page, **headers)


@pytest.fixture
def stub() -> Iterator[Stub]:
    state = Stub()
    _build(state)
    handler = type("Handler", (_Handler,), {"stub": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/dicom-web"
    dicomweb.clear_cache()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        dicomweb.clear_cache()


def test_the_whole_server_in_few_requests(stub: Stub) -> None:
    col = dk.scan_dicomweb(stub.url, progress=False)
    assert len(col) == 12
    assert col.series.height == 4
    stats = col.source_stats
    assert stats is not None
    assert stats["requests_by_kind"] == {
        "qido_studies": 1,
        "qido_series": 2,
        "wado_metadata": 4,
    }
    assert stats["requests"] == len(stub.log) == 7
    assert stats["complete"] is True
    assert stats["instances"] == 12
    path = col.instances.sort("SOPInstanceUID")["path"][0]
    assert path == (
        f"{stub.url}/studies/{UID_ROOT}1.0/series/{UID_ROOT}2.0.0/instances/"
        f"{UID_ROOT}3.0.0.0"
    )
    assert col.instances["has_pixel_data"].all()
    assert col.instances["file_size"].is_null().all()
    assert col.verify().filter(pl.col("severity") == "error").is_empty()


def test_named_studies_and_filters(stub: Stub) -> None:
    col = dk.scan_dicomweb(stub.url, study=f"{UID_ROOT}1.1", progress=False)
    assert set(col.instances["StudyInstanceUID"]) == {f"{UID_ROOT}1.1"}
    assert col.source_stats is not None
    assert col.source_stats["requests_by_kind"] == {
        "qido_series": 1,
        "wado_metadata": 2,
    }
    dk.scan_dicomweb(
        stub.url,
        patient_id="P1",
        modality="CT",
        study_date=("2024-01-01", None),
        search={"AccessionNumber": "A1"},
        progress=False,
    )
    _, query, _ = stub.log[-7]
    assert query["PatientID"] == ["P1"]
    assert query["ModalitiesInStudy"] == ["CT"]
    assert query["StudyDate"] == ["20240101-"]
    assert query["AccessionNumber"] == ["A1"]
    series_queries = [q for p, q, _ in stub.log[-6:] if p.endswith("/series")]
    assert all(q["Modality"] == ["CT"] for q in series_queries)


def test_paging_with_limit_and_offset(stub: Stub) -> None:
    col = dk.scan_dicomweb(stub.url, page_size=1, progress=False)
    assert len(col) == 12
    study_pages = [q for p, q, _ in stub.log if p.endswith("/studies")]
    # two full pages, then an empty one that ends the listing
    assert [q["offset"] for q in study_pages] == [["0"], ["1"], ["2"]]
    assert all(q["limit"] == ["1"] for q in study_pages)


def test_a_server_that_ignores_offset_is_detected_not_looped_on(stub: Stub) -> None:
    stub.ignore_offset = True
    with pytest.warns(RuntimeWarning, match="ignores offset"):
        col = dk.scan_dicomweb(stub.url, page_size=1, progress=False)
    stats = col.source_stats
    assert stats is not None
    assert stats["complete"] is False
    assert "ignores offset" in stats["problems"][0]
    assert stats["requests_by_kind"]["qido_studies"] == 2  # one repeat, then stop
    assert stats["studies"] == 1


def test_a_capped_page_with_a_warning_header_is_followed(stub: Stub) -> None:
    stub.cap = 1
    col = dk.scan_dicomweb(stub.url, page_size=100, progress=False)
    assert col.source_stats is not None
    assert col.source_stats["studies"] == 2
    assert col.source_stats["complete"] is True
    assert len(col) == 12


def test_a_page_cut_short_without_a_warning_ends_the_listing(stub: Stub) -> None:
    # indistinguishable from the last page: PS3.18 asks servers for the header
    stub.cap, stub.cap_warning = 1, False
    col = dk.scan_dicomweb(stub.url, page_size=100, progress=False)
    assert col.source_stats is not None
    assert col.source_stats["studies"] == 1


def test_a_server_that_ignores_limit_is_read_in_one_page(
    stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    def everything(
        self: _Handler, items: list[Any], query: dict[str, list[str]]
    ) -> None:
        self._json(items)

    monkeypatch.setattr(_Handler, "_page", everything)
    col = dk.scan_dicomweb(stub.url, page_size=1, progress=False)
    assert col.source_stats is not None
    assert col.source_stats["complete"] is True
    assert col.source_stats["requests_by_kind"]["qido_studies"] == 1
    assert len(col) == 12


def test_servers_with_and_without_includefield_all_give_the_same(
    stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows come from the series metadata: a QIDO answer that honours
    includefield=all (every attribute) or returns UIDs only changes nothing."""
    plain = dk.scan_dicomweb(stub.url, progress=False)
    original = _Handler._page

    def all_fields(
        self: _Handler, items: list[Any], query: dict[str, list[str]]
    ) -> None:
        study = next(iter(self.stub.studies.values()))
        rich = next(iter(study.values()))[0]  # every attribute of an instance
        original(self, [{**rich, **item} for item in items], query)

    monkeypatch.setattr(_Handler, "_page", all_fields)
    rich = dk.scan_dicomweb(stub.url, progress=False)
    assert rich == plain
    assert not any("includefield" in q for _, q, _ in stub.log)


def test_the_progress_bar(stub: Stub, capsys: pytest.CaptureFixture[str]) -> None:
    dk.scan_dicomweb(stub.url, progress=True)
    err = capsys.readouterr().err
    assert "dicomkit dicomweb" in err
    assert "4/4" in err  # one step per series


def test_unreachable_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # nothing listens on port now
    with pytest.raises(dk.DicomwebConnectionError, match="cannot reach"):
        dk.scan_dicomweb(f"http://127.0.0.1:{port}/dicom-web", progress=False)


def test_timeout_is_an_error_not_a_hang(stub: Stub) -> None:
    stub.delay = 2.0
    started = time.monotonic()
    with pytest.raises(dk.DicomwebTimeoutError, match="within the timeout") as info:
        dk.scan_dicomweb(stub.url, timeout=0.3, progress=False)
    assert isinstance(info.value, TimeoutError)
    assert time.monotonic() - started < 2.0


def test_a_trickling_answer_is_bounded_in_total(stub: Stub) -> None:
    stub.trickle = True  # every wait is short, the whole answer is not
    started = time.monotonic()
    with pytest.raises(dk.DicomwebTimeoutError, match="did not finish answering"):
        dk.scan_dicomweb(stub.url, timeout=(1.0, 0.25), progress=False)
    assert time.monotonic() - started < 5.0


def test_401_then_headers_and_the_secret_stays_secret(
    stub: Stub, caplog: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    stub.require_auth = True
    caplog.set_level(logging.DEBUG)
    with pytest.raises(dk.DicomwebAuthError, match="HTTP 401") as info:
        dk.scan_dicomweb(stub.url, progress=False)
    assert isinstance(info.value, PermissionError)
    assert "headers=" in str(info.value)
    col = dk.scan_dicomweb(stub.url, headers={"Authorization": SECRET}, progress=False)
    assert len(col) == 12
    assert all(h.get("Authorization") == SECRET for _, _, h in stub.log[1:])
    # pixels on demand reuse the scan's headers
    frames = dk.load_pixels(col.instances["path"][0])
    assert frames.shape == (1, 4, 4)
    col.write_parquet(tmp_path / "index.parquet")
    shown = repr(col) + repr(col.source_stats) + caplog.text
    shown += (tmp_path / "index.parquet").read_bytes().decode("latin-1")
    assert "s3cr3t" not in shown


def test_403(stub: Stub) -> None:
    stub.forbid = True
    with pytest.raises(dk.DicomwebAuthError, match="HTTP 403"):
        dk.scan_dicomweb(stub.url, progress=False)


def test_a_500_mid_listing_raises_nothing_partial(stub: Stub) -> None:
    stub.fail_study_page = 1
    with pytest.raises(dk.DicomwebError, match="HTTP 500"):
        dk.scan_dicomweb(stub.url, page_size=1, progress=False)


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (500, "server_error"),
        (404, "not_found"),
        ("malformed", "malformed_json"),
        ("object", "malformed_json"),
        ("wrong_series", "wrong_series"),
    ],
)
def test_a_failing_series_is_an_error_row(
    stub: Stub, failure: int | str, reason: str
) -> None:
    bad = f"{UID_ROOT}2.0.1"
    stub.fail_series[bad] = failure
    with pytest.warns(RuntimeWarning, match="incomplete"):
        col = dk.scan_dicomweb(stub.url, progress=False)
    assert len(col) == 9
    assert bad not in set(col.instances["SeriesInstanceUID"])
    assert col.errors.height == 1
    row = col.errors.row(0, named=True)
    assert row["reason"] == reason
    assert row["path"].endswith(f"/series/{bad}/metadata")
    assert col.source_stats is not None
    assert col.source_stats["complete"] is False
    assert col.source_stats["problems"] == []  # the error row says it all


def test_a_slow_series_is_an_error_row_and_the_others_are_read(stub: Stub) -> None:
    bad = f"{UID_ROOT}2.1.0"
    stub.fail_series[bad] = "slow"
    with pytest.warns(RuntimeWarning, match="incomplete"):
        col = dk.scan_dicomweb(stub.url, timeout=(2.0, 0.3), progress=False)
    assert len(col) == 9
    assert col.errors["reason"].to_list() == ["timeout"]
    assert bad in col.errors["path"][0]


def test_an_unknown_named_study_is_an_error_row(stub: Stub) -> None:
    with pytest.warns(RuntimeWarning, match="incomplete"):
        col = dk.scan_dicomweb(
            stub.url, study=[f"{UID_ROOT}1.0", "1.2.3.404"], progress=False
        )
    assert len(col) == 6
    assert col.errors["reason"].to_list() == ["not_found"]
    assert "1.2.3.404" in col.errors["message"][0]


def test_fewer_instances_than_qido_said(stub: Stub) -> None:
    stub.extra_count = 1
    with pytest.warns(RuntimeWarning, match="QIDO said 4"):
        col = dk.scan_dicomweb(stub.url, progress=False)
    assert col.source_stats is not None
    assert col.source_stats["complete"] is False
    assert len(col) == 12


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/dicom-web",
        "http://user:pw@127.0.0.1/dicom-web",
        "http://127.0.0.1/dicom-web?token=x",
        "127.0.0.1:8042",
    ],
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        dk.scan_dicomweb(url)


def test_pixels_and_volume_are_retrieved_once(stub: Stub) -> None:
    col = dk.scan_dicomweb(stub.url, progress=False)
    series = col.series["SeriesInstanceUID"][0]
    before = len(stub.log)
    vol = col.volume(series)
    assert vol.array.shape == (3, 4, 4)
    retrieved = len(stub.log) - before
    assert retrieved == 3
    col.volume(series)
    assert len(stub.log) - before == 3  # cached
    ds = dicomweb.read_instance(col.instances["path"][0], stop_before_pixels=True)
    assert "PixelData" not in ds


def test_an_instance_url_the_server_lacks(stub: Stub) -> None:
    with pytest.raises(dk.DicomwebNotFoundError, match="404"):
        dk.load_pixels(f"{stub.url}/studies/1/series/2/instances/3")


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"<html>proxy error</html>", "is not JSON"),
        (b'{"0020000D": {"vr": "UI"}}', "not a JSON array"),
    ],
)
def test_a_study_listing_that_is_not_dicom_json_raises(
    stub: Stub, body: bytes, match: str
) -> None:
    stub.studies_body = body
    with pytest.raises(dk.DicomwebError, match=match):
        dk.scan_dicomweb(stub.url, progress=False)


def test_items_without_a_uid_make_the_listing_incomplete(stub: Stub) -> None:
    stub.studies_body = json.dumps(
        [{"0020000D": {"vr": "UI", "Value": [f"{UID_ROOT}1.0"]}}, {"x": 1}]
    ).encode()
    with pytest.warns(RuntimeWarning, match="has no UID"):
        col = dk.scan_dicomweb(stub.url, progress=False)
    assert len(col) == 6


def test_a_missing_requests_package_names_the_extra(
    stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "requests", None)
    with pytest.raises(dk.DicomwebError, match=r"dicomkit\[dicomweb\]"):
        dk.scan_dicomweb(stub.url, progress=False)


def test_cli_scan_of_a_url_and_its_errors(
    stub: Stub, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert (
        main(["scan", stub.url, "--no-progress", "-o", str(tmp_path / "i.parquet")])
        == 0
    )
    out = capsys.readouterr().out
    assert "12 instances" in out
    assert "7 requests (1 qido_studies, 2 qido_series, 4 wado_metadata)" in out
    saved = dk.read_parquet(tmp_path / "i.parquet")
    assert saved == dk.scan_dicomweb(stub.url, progress=False)  # frames equal
    assert main(["scan", str(tmp_path), "--study", "1.2"]) == 2
    assert "--study selects studies of a DICOMweb server" in capsys.readouterr().err
    assert main(["scan", stub.url, "--parts", "-o", str(tmp_path / "p")]) == 2
    stub.forbid = True
    assert main(["scan", stub.url, "--no-progress"]) == 2
    assert "HTTP 403" in capsys.readouterr().err


def test_an_instance_the_server_finds_only_in_its_series(stub: Stub) -> None:
    # Orthanc answers 404 for the instance URL of the second copy of a
    # SOPInstanceUID it holds twice, but lists it in its series
    col = dk.scan_dicomweb(stub.url, progress=False)
    row = col.instances.sort("SOPInstanceUID").row(1, named=True)
    stub.hidden.add(row["SOPInstanceUID"])
    frames = dk.load_pixels(row["path"])
    assert frames[0, 0, 0] == -1024 + 1  # InstanceNumber 2: pixel values + 1
    assert any(p.endswith(row["SeriesInstanceUID"]) for p, _, _ in stub.log)
    stub.hidden.add("gone")
    with pytest.raises(dk.DicomwebNotFoundError, match="nor in its series"):
        dk.load_pixels(row["path"].rsplit("/", 1)[0] + "/gone")


@pytest.mark.parametrize(
    ("body", "parts"),
    [
        (b"--b\r\nContent-Type: application/dicom\r\n\r\nONE\r\n--b--\r\n", [b"ONE"]),
        (b"--b\r\n\r\nA\r\n--b\r\n\r\nB\r\n\r\n--b--", [b"A", b"B\r\n"]),
        (b"--b--\r\n", []),
        (b"--b\r\n\r\nA\r\n--b\r\n\r\nB cut short", None),
        (b"no boundary at all", None),
    ],
)
def test_multipart_parsing(body: bytes, parts: list[bytes] | None) -> None:
    kind = 'multipart/related; type="application/dicom"; boundary="b"'
    Reply = type("Reply", (), {"headers": {"Content-Type": kind}, "content": body})

    if parts is None:
        with pytest.raises(dk.DicomwebError, match="cut short or malformed"):
            split_parts(Reply(), "http://127.0.0.1:1/x")
    else:
        assert split_parts(Reply(), "http://127.0.0.1:1/x") == parts


def test_verify_reads_per_frame_positions_through_wado_rs(
    stub: Stub, tmp_path: Path
) -> None:
    path = enhanced_ct(tmp_path / "mf.dcm", [0, 2, 4, 8, 10])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = dcmread(path)
        js = ds.to_json_dict(
            bulk_data_threshold=8,
            bulk_data_element_handler=lambda _: "http://127.0.0.1:1/bulk",
        )
    stub.studies = {ds.StudyInstanceUID: {ds.SeriesInstanceUID: [js]}}
    stub.files = {ds.SOPInstanceUID: path.read_bytes()}
    col = dk.scan_dicomweb(stub.url, progress=False)
    assert col.instances["n_frames"].to_list() == [5]
    findings = col.verify()
    assert findings["check"].to_list() == ["missing_slices"]
    assert "frame 3" in findings["message"][0]
