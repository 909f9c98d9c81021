"""The shell's own words used by the page scripts, translated on the server (Flask-Babel)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _

STRINGS = {
    "save": _("Save"), "cancel": _("Cancel"), "new": _("New"), "edit": _("Edit"),
    "delete": _("Delete"), "search": _("Search"), "filter": _("Filter"),
    "clear": _("Clear"), "apply": _("Apply"), "from": _("from"), "to": _("to"),
    "any": _("any"), "yes": _("Yes"), "no": _("No"), "none": _("(none)"),
    "loading": _("Loading…"), "no_records": _("Nothing here yet."),
    "page_of": _("Page %(page)s of %(pages)s · %(total)s records"),
    "prev": _("Previous"), "next": _("Next"),
    "saved_filters": _("Saved filters"), "save_filter": _("Save this filter"),
    "filter_name": _("Name of the filter"), "shared": _("Share with my team"),
    "add_filter": _("More filters…"), "saved": _("Saved."),
    "add_row": _("Add row"), "remove": _("Remove"), "required": _("required"),
    "fix_errors": _("Please correct the marked fields."),
    "other_fields": _("Other fields"), "ticket_type": _("Ticket type"),
    "related": _("Related"), "activity": _("Activity"), "details": _("Details"),
    "add_note": _("Add note"), "add_task": _("Add task"), "note": _("Note"),
    "task_title": _("Task"), "due": _("Due"), "claim": _("Claim"),
    "claimed": _("It is yours now."), "call": _("Call"), "calling": _("Calling %(number)s…"),
    "transition": _("Move on"), "department": _("Department"), "assignee": _("Assignee"),
    "comment": _("Comment"), "created": _("created"), "updated": _("updated"),
    "by": _("by"), "ready": _("Ready"), "paused": _("Paused"), "offline": _("Offline"),
    "status_now": _("You are %(status)s"), "waiting_calls": _("Waiting for calls…"),
    "incoming": _("Incoming call"), "unknown_caller": _("New caller"),
    "vip": _("VIP"), "blocked": _("Blocked"), "new_ticket": _("New ticket"),
    "open_record": _("Open record"), "call_ended": _("Call ended"),
    "ticket_assigned": _("A ticket was assigned to you"),
    "kb_results": _("%(total)s articles"), "no_kb": _("No article found."),
    "uploading": _("Uploading…"), "job_status": _("Status: %(status)s"),
    "stage.indexing": _("indexing for search"),
    "status.queued": _("queued"), "status.running": _("running"), "status.done": _("done"),
    "status.failed": _("failed"), "exporting": _("Exporting…"),
    "exported": _("Rows exported: %(rows)s."), "rows_n": _("Rows: %(rows)s"),
    "deleted_n": _("deleted"), "not_found_n": _("not found"), "removed_n": _("removed"),
    "restored_n": _("restored"), "resume": _("Resume"), "revert": _("Revert"),
    "reverted": _("reverted"), "job": _("Job"), "file": _("File"), "status": _("Status"),
    "result": _("Result"), "no_jobs": _("No jobs yet."),
    "confirm_revert": _("Undo this import: remove the records it created and restore "
                        "those it updated?"),
    "confirm_bulk_delete": _("Delete the %(entity)s records this file names?"),
    "kind.import": _("Import"), "kind.export": _("Export"),
    "kind.bulk_delete": _("Delete by file"), "kind.revert": _("Revert"),
    "created_n": _("created"), "updated_n": _("updated"), "failed_n": _("failed"),
    "rejected_rows": _("Rejected rows"), "unavailable": _("Not available yet."),
    "problems": _("Problems: %(count)s"), "applied": _("Applied: version %(version)s"),
    "error": _("Something went wrong."), "type_to_search": _("Type to search…"),
    "mine": _("mine"), "simulate_sent": _("Event sent"),
    "views.all": _("All"), "views.mine": _("Assigned to me"),
    "views.to_handle": _("To handle"), "views.overdue": _("Overdue"),
    "views.unprocessed": _("Unprocessed"), "views.created_by_me": _("Created by me"),
    "views.following": _("Following"),
    "bad_login": _("Invalid login. Please try again."),
    "follow": _("Follow"), "unfollow": _("Unfollow"),
    "confirm_delete": _("Delete this record?"),
    "action.create": _("Created"), "action.update": _("Changed"), "action.delete": _("Deleted"),
    "action.claim": _("Claimed"), "action.follow": _("Followed"),
    "action.unfollow": _("Unfollowed"),
}


def js_strings() -> dict[str, str]:
    """STRINGS in the current language."""
    return {key: str(text) for key, text in STRINGS.items()}
