"""chalicelib.result_wait and ResultsStore.result_for_key: one request that waits for one upload's verdict."""
import pytest

from chalicelib.result_wait import (
    MAX_WAIT_SECONDS,
    InvalidResultsRequest,
    WaitRequest,
    pauses,
    read_wait_request,
    reads_until,
    wait_for_result,
)
from chalicelib.results import DynamoDbResultsStore, ResultsStoreUnavailable

from .helpers import TABLE, stored_record

KEY = "uploads/PCB-0042/20240514T092107532000Z-0a1b2c3d.jpg"


@pytest.fixture
def store(dynamodb):
    return DynamoDbResultsStore(dynamodb, TABLE)


class FakeClock:
    """Time that moves only when the code under test sleeps; `on_sleep` runs at each pause."""

    def __init__(self, on_sleep=None):
        self.now = 1000.0
        self.sleeps = []
        self._on_sleep = on_sleep

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self._on_sleep:
            self._on_sleep(self)


def request(wait=20.0, key=KEY, not_before="2024-05-14T09:16:07") -> WaitRequest:
    return WaitRequest(key, wait, not_before)


# --- reading the query -----------------------------------------------------------------------------------


def test_given_no_key_when_read_then_it_is_the_plain_product_query():
    assert read_wait_request(None, "PCB-0042", "uploads/") is None
    assert read_wait_request({}, "PCB-0042", "uploads/") is None


def test_given_a_key_of_the_product_when_read_then_wait_and_the_capture_time_bound():
    # GIVEN the key POST /uploads answered, and wait=20
    # WHEN read
    wait = read_wait_request({"key": KEY, "wait": "20"}, "PCB-0042", "uploads/")
    # THEN it waits 20 s and reads results from 5 minutes before the capture time on
    assert wait == WaitRequest(KEY, 20.0, "2024-05-14T09:16:07")


def test_given_a_cameras_own_file_name_when_read_then_no_time_bound():
    wait = read_wait_request({"key": "uploads/PCB-0042.jpg"}, "PCB-0042", "uploads/")
    assert wait == WaitRequest("uploads/PCB-0042.jpg", 0.0, None)


def test_given_an_unmatched_upload_when_read_under_the_reserved_id_then_accepted():
    assert read_wait_request({"key": "uploads/a/b/c.jpg"}, "_unmatched", "uploads/").key == "uploads/a/b/c.jpg"


@pytest.mark.parametrize("key", [
    "uploads/PCB-0043/20240514T092107532000Z-0a1b2c3d.jpg",  # another product's upload
    "other/PCB-0042/20240514T092107532000Z-0a1b2c3d.jpg",  # outside the upload prefix
    "uploads/PCB-0042/",  # a folder
    "uploads/PCB-0042/notes.txt",  # recorded under _unmatched, not under the product
    "",
    "uploads/PCB-0042/" + "x" * 1100 + ".jpg",
])
def test_given_a_key_not_of_this_product_when_read_then_invalid(key):
    with pytest.raises(InvalidResultsRequest, match="key"):
        read_wait_request({"key": key, "wait": "5"}, "PCB-0042", "uploads/")


@pytest.mark.parametrize("wait", ["-1", "21", "abc", "nan", "inf", ""])
def test_given_a_wait_outside_0_to_20_when_read_then_invalid(wait):
    with pytest.raises(InvalidResultsRequest, match=f"0 to {MAX_WAIT_SECONDS}"):
        read_wait_request({"key": KEY, "wait": wait}, "PCB-0042", "uploads/")


def test_given_wait_without_key_when_read_then_invalid():
    with pytest.raises(InvalidResultsRequest) as raised:
        read_wait_request({"wait": "5"}, "PCB-0042", "uploads/")
    assert str(raised.value) == "wait needs key: GET /results/{product_id}?key=<the upload's key>&wait=20."


def test_given_the_bounds_of_wait_and_key_length_when_read_then_accepted():
    assert read_wait_request({"key": KEY, "wait": "0"}, "PCB-0042", "uploads/").wait == 0.0
    longest = "uploads/PCB-0042/" + "x" * (1024 - len("uploads/PCB-0042/.jpg")) + ".jpg"
    assert len(longest) == 1024 and read_wait_request({"key": longest}, "PCB-0042", "uploads/").key == longest


@pytest.mark.parametrize("key, message", [
    ("", "key must be the upload's key (1 to 1024 characters), as POST /uploads answered it."),
    ("uploads/PCB-0043/" + "y" * 100 + ".jpg",
     f"key {'uploads/PCB-0043/' + 'y' * 63!r} is not an upload of product 'PCB-0042': use the key POST /uploads "
     "answered for this product (uploads/PCB-0042/<capture_id>.<ext>)."),
])
def test_given_a_bad_key_when_read_then_the_message_says_which_key_to_use(key, message):
    with pytest.raises(InvalidResultsRequest) as raised:
        read_wait_request({"key": key}, "PCB-0042", "uploads/")
    assert str(raised.value) == message


# --- the store's read of one upload's result ---------------------------------------------------------------


def test_given_results_of_several_uploads_when_one_key_read_then_only_its_newest_result(store):
    # GIVEN the upload's result, a later reinspection of it, and another upload of the same product
    store.put(stored_record(key=KEY, verdict="error"))
    store.put(stored_record(key=KEY, uploaded_at="2024-05-14T10:00:00.000Z", inspection_id="re", verdict="defective"))
    store.put(stored_record(key="uploads/PCB-0042/other.jpg", uploaded_at="2024-05-14T11:00:00.000Z"))
    # WHEN the key's result is read
    result = store.result_for_key("PCB-0042", KEY, "2024-05-14T09:16:07")
    # THEN it is the newest for that key
    assert result["inspection_id"] == "re" and result["verdict"] == "defective"


def test_given_no_result_for_the_key_when_read_then_none(store):
    store.put(stored_record(key="uploads/PCB-0042/other.jpg"))
    assert store.result_for_key("PCB-0042", KEY) is None
    assert store.result_for_key("PCB-9999", KEY) is None


def test_given_a_result_older_than_the_bound_when_read_then_not_seen(store):
    store.put(stored_record(key=KEY, uploaded_at="2024-05-14T09:00:00.000Z"))
    assert store.result_for_key("PCB-0042", KEY, "2024-05-14T09:16:07") is None
    assert store.result_for_key("PCB-0042", KEY, None) is not None


def test_given_many_other_results_when_read_then_pages_are_followed(store, dynamodb, monkeypatch):
    # GIVEN the result behind a page of other uploads' results (DynamoDB pages by items read, before the filter)
    store.put(stored_record(key=KEY, uploaded_at="2024-05-14T09:30:00.000Z"))
    for minute in range(10, 13):
        store.put(stored_record(key=f"uploads/PCB-0042/{minute}.jpg", uploaded_at=f"2024-05-14T09:{minute + 30}:00.000Z"))
    query = dynamodb.query
    calls = []
    monkeypatch.setattr(dynamodb, "query", lambda **kw: calls.append(kw) or query(**kw, Limit=2))
    # WHEN read, THEN found on a later page, with consistent reads
    assert store.result_for_key("PCB-0042", KEY)["uploaded_at"] == "2024-05-14T09:30:00.000Z"
    assert len(calls) == 2 and all(call["ConsistentRead"] for call in calls)


def test_given_dynamodb_failing_when_read_then_unavailable(store, dynamodb, monkeypatch):
    from botocore.exceptions import EndpointConnectionError
    monkeypatch.setattr(dynamodb, "query", lambda **_: (_ for _ in ()).throw(EndpointConnectionError(endpoint_url="x")))
    with pytest.raises(ResultsStoreUnavailable):
        store.result_for_key("PCB-0042", KEY)


# --- waiting ---------------------------------------------------------------------------------------------


def test_given_the_result_already_stored_when_waited_then_200_at_once(store):
    store.put(stored_record(key=KEY))
    clock = FakeClock()
    answer = wait_for_result(store, "PCB-0042", request(), clock=clock, sleep=clock.sleep)
    assert answer["status_code"] == 200
    assert answer["body"]["result"]["key"] == KEY and answer["body"]["product_id"] == "PCB-0042"
    assert clock.sleeps == []


def test_given_the_result_stored_while_waiting_when_waited_then_200_after_short_pauses(store):
    # GIVEN a result that is stored 1.2 s into the wait
    def store_late(clock):
        if clock.now - 1000.0 >= 1.2 and not store.result_for_key("PCB-0042", KEY):
            store.put(stored_record(key=KEY))

    clock = FakeClock(store_late)
    # WHEN waited for
    answer = wait_for_result(store, "PCB-0042", request(), clock=clock, sleep=clock.sleep)
    # THEN answered once it is there, after pauses of at most 1 s
    assert answer["status_code"] == 200
    assert 1.2 <= clock.now - 1000.0 < 2.3
    assert max(clock.sleeps) <= 1.0


def test_given_no_result_when_the_wait_runs_out_then_202_pending_after_the_wait(store):
    clock = FakeClock()
    answer = wait_for_result(store, "PCB-0042", request(wait=5), clock=clock, sleep=clock.sleep)
    assert answer == {"status_code": 202, "body": {
        "product_id": "PCB-0042", "key": KEY, "status": "pending", "waited_ms": 5000,
        "message": "No result for this upload yet; ask again with the same request (it is usually there within "
                   "seconds; an upload that never reached the bucket never gets one).",
    }}
    assert sum(clock.sleeps) == pytest.approx(5.0)


def test_given_a_result_older_than_the_requests_bound_when_waited_then_not_seen(store):
    # GIVEN the key's result stored before the capture time less the slack (so not this upload's)
    store.put(stored_record(key=KEY, uploaded_at="2024-05-14T09:00:00.000Z"))
    clock = FakeClock()
    # WHEN waited for with the bound read_wait_request made, THEN only results from the bound on are read
    assert wait_for_result(store, "PCB-0042", request(wait=0), clock=clock, sleep=clock.sleep)["status_code"] == 202
    assert wait_for_result(store, "PCB-0042", request(wait=0, not_before=None), clock=clock,
                           sleep=clock.sleep)["status_code"] == 200


def test_given_under_the_answer_margin_left_when_waited_then_one_read_and_no_pause(store):
    clock = FakeClock()
    answer = wait_for_result(store, "PCB-0042", request(wait=20), seconds_left=lambda: 1.0,
                             clock=clock, sleep=clock.sleep)
    assert answer["status_code"] == 202 and clock.sleeps == []


def test_given_little_lambda_time_left_when_waited_then_the_wait_ends_before_the_function_would(store):
    # GIVEN 4 s left to the Lambda and wait=20
    clock = FakeClock()
    answer = wait_for_result(store, "PCB-0042", request(wait=20), seconds_left=lambda: 4.0,
                             clock=clock, sleep=clock.sleep)
    # THEN it answers pending after 2 s, keeping 2 s to answer
    assert answer["status_code"] == 202
    assert clock.now - 1000.0 == pytest.approx(2.0)


def test_given_wait_0_when_no_result_then_one_read_and_202(store):
    clock = FakeClock()
    assert wait_for_result(store, "PCB-0042", request(wait=0), clock=clock, sleep=clock.sleep)["status_code"] == 202
    assert clock.sleeps == []


def test_pauses_grow_to_one_second_and_reads_are_counted_for_the_cost_model():
    first = [pause for pause, _ in zip(pauses(), range(8))]
    assert first == pytest.approx([0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.0, 1.0])
    assert reads_until(0) == 1
    assert reads_until(0.02) == 2
    assert reads_until(0.05) == 3  # reads at 0, 0.02 and 0.06 s
    assert reads_until(2.0) == 8  # reads at 0, 0.02, 0.06, 0.14, 0.3, 0.62, 1.26 and 2.26 s
