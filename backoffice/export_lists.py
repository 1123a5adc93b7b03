"""The lists a worker may export as CSV (backoffice.exports.export_step), named one by one: a
list is exported through its own page's filters, search, order and region scoping, and the
columns that page declares. Nothing is looked up in the admin registry or by a model's name at
run time; a list that is not here cannot be exported in the background."""

from backoffice.audit_lists import AccessRecordAdmin, AuditEventAdmin, ConsentRecordAdmin, DecisionLogAdmin
from backoffice.auditing import FaceMatchAdmin
from backoffice.exports import ExportableList
from enforcement.models import AccessRecord, AuditEvent, ConsentRecord, Decision
from reportin.models import FaceMatch

LISTS: dict[str, ExportableList] = {
    exportable.label: exportable
    for exportable in (
        ExportableList(ConsentRecord, ConsentRecordAdmin),
        ExportableList(AccessRecord, AccessRecordAdmin),
        ExportableList(Decision, DecisionLogAdmin),
        ExportableList(AuditEvent, AuditEventAdmin),
        ExportableList(FaceMatch, FaceMatchAdmin),
    )
}
