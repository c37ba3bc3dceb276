"""The typed Services container (functions/services/context.py) and the capability protocols
that replaced hasattr probes (stores/port.py, queue/port.py): docs/architecture.md."""
from __future__ import annotations

import pytest

from functions.bootstrap import build
from functions.queue.cloudtasks import CloudTasksQueue
from functions.queue.local import LocalQueue
from functions.queue.port import DrainedHere, KnowsTickets
from functions.services.intake import intake
from functions.stores.port import (EditsDirectory, HasLayout, HoldsDirectory, KeepsLongText, LinksRows, ListsTabs,
                                   LocksJobs, LogsInBatches, ReadsForJobs, ReportsCellUsage)
from tests.adapters.sheets_env import sheets_env
from tests.conftest import complaint


def test_build_refuses_a_dependency_it_does_not_name(settings, clock):
    """No `**extras`: a misspelt override is an error, not a silently unused attribute."""
    with pytest.raises(TypeError):
        build(settings, clock=clock, media_confg=object())


def test_each_build_is_an_instance_with_its_own_state(settings, clock):
    one, two = build(settings, clock=clock), build(settings, clock=clock)
    one.workbook.bootstrap()
    intake(one, complaint("jalan rusak parah", clock))
    from functions.services.public_reads import snapshot_of

    assert snapshot_of(one) is snapshot_of(one) and snapshot_of(two) is not snapshot_of(one)
    assert one.state.public_snapshot is not None and two.state.public_snapshot is not None
    assert two.state.recent_tickets is None  # nothing accepted by the second instance


def test_the_local_store_and_queue_have_the_capabilities_the_services_rely_on(svc):
    assert isinstance(svc.workbook, HoldsDirectory) and isinstance(svc.workbook, EditsDirectory)
    assert isinstance(svc.workbook, ListsTabs) and isinstance(svc.contacts, KeepsLongText)
    assert isinstance(svc.queue, LocalQueue)
    assert isinstance(svc.queue, DrainedHere) and isinstance(svc.queue, KnowsTickets)


def test_google_sheets_edits_no_directory_row_but_holds_the_directory_and_long_texts():
    """`opd set` is local only (admins edit the tab in production): the capability says so."""
    with sheets_env() as env:
        wb, contacts = env.workbook(), env.contacts()
        assert isinstance(wb, HoldsDirectory) and not isinstance(wb, EditsDirectory)
        assert isinstance(contacts, KeepsLongText) and isinstance(contacts, HasLayout)


def test_cloud_tasks_is_not_drained_by_this_process():
    queue = CloudTasksQueue("projects/kmc-aduan/locations/asia-southeast2/queues/kmc-intake", "https://example.invalid/jobs/intake",
                            "invoker@example.iam.gserviceaccount.com")
    assert not isinstance(queue, DrainedHere) and not isinstance(queue, KnowsTickets)


def test_each_store_offers_exactly_the_job_capabilities_the_services_branch_on(svc):
    """What a job does differently per store follows from these: the local store locks a job with
    its file lock, the Sheets store claims a lease in the Log and shares the job's one read; only
    Sheets links a case's row in the digest; both write many Log entries at once and report cells."""
    local = svc.workbook
    assert isinstance(local, LocksJobs) and not isinstance(local, ReadsForJobs)
    assert isinstance(local, LogsInBatches) and isinstance(local, ReportsCellUsage)
    assert not isinstance(local, LinksRows)
    with sheets_env() as env:
        wb = env.workbook()
        assert isinstance(wb, ReadsForJobs) and not isinstance(wb, LocksJobs)
        assert isinstance(wb, LogsInBatches) and isinstance(wb, ReportsCellUsage) and isinstance(wb, LinksRows)
