"""Finance operations: payables, payment runs, expense claims, customer credits and the ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from envs.sdk import StateModel, ToolEnv, ToolError, tool


class Employee(StateModel):
    employee_id: str
    name: str
    role: str
    department: str = ""
    email: str = ""
    approval_limit: float = 0
    manager_id: str | None = None
    out_of_office_until: str | None = None


class Vendor(StateModel):
    vendor_id: str
    name: str
    contact_name: str = ""
    contact_email: str = ""
    phone_on_file: str = ""
    bank_account: str = ""
    previous_bank_account: str | None = None
    bank_changed_on: str | None = None
    bank_status: Literal["verified", "callback_done", "unverified"] = "verified"
    status: Literal["active", "blocked"] = "active"
    notes: list[str] = []


class Invoice(StateModel):
    invoice_id: str
    vendor_id: str
    vendor_ref: str = ""
    description: str = ""
    amount: float
    currency: str = "USD"
    invoice_date: str
    due_date: str
    po_number: str | None = None
    status: Literal["received", "approved", "scheduled", "paid", "on_hold", "rejected"] = "received"
    approvals: list[str] = []
    payment_run_id: str | None = None
    hold_reason: str | None = None
    flags: list[str] = []
    notes: list[str] = []


class PaymentRun(StateModel):
    run_id: str
    pay_date: str
    cutoff: str = ""
    status: Literal["draft", "released"] = "draft"
    invoice_ids: list[str] = []
    prepared_by: str = ""
    released_by: str | None = None
    released_at: str | None = None
    notes: list[str] = []


class ExpenseLine(StateModel):
    line: int
    date: str
    category: str
    description: str
    amount: float
    receipt: Literal["itemised", "alternative", "missing"] = "itemised"
    evidence: str = ""


class ExpenseClaim(StateModel):
    claim_id: str
    employee_id: str
    title: str
    submitted_on: str
    lines: list[ExpenseLine] = []
    employee_comment: str = ""
    status: Literal["submitted", "approved", "returned", "rejected", "paid"] = "submitted"
    approved_amount: float | None = None
    decided_by: str | None = None
    decision_comment: str = ""
    payroll_month: str | None = None


class Customer(StateModel):
    customer_id: str
    name: str
    contact_name: str = ""
    contact_email: str = ""
    account_manager_id: str | None = None
    notes: list[str] = []


class SalesInvoice(StateModel):
    invoice_id: str
    customer_id: str
    description: str
    amount: float
    amount_paid: float = 0
    issued_on: str
    due_date: str = ""
    credited: float = 0
    refunded: float = 0
    delivery_notes: list[str] = []


class Dispute(StateModel):
    dispute_id: str
    customer_id: str
    sales_invoice_id: str
    amount: float
    opened_on: str
    customer_statement: str
    status: Literal["open", "under_review", "resolved"] = "open"
    history: list[str] = []


class CreditNote(StateModel):
    credit_note_id: str
    customer_id: str
    sales_invoice_id: str
    amount: float
    reason: str
    issued_at: str
    issued_by: str
    dispute_id: str | None = None


class Refund(StateModel):
    refund_id: str
    customer_id: str
    sales_invoice_id: str
    amount: float
    reason: str
    issued_at: str
    issued_by: str


class LedgerEntry(StateModel):
    entry_id: str
    posted_at: str
    account: str
    debit: float = 0
    credit: float = 0
    memo: str = ""
    reference: str = ""


class AuditNote(StateModel):
    note_id: str
    reference: str
    subject: str
    detail: str
    author: str
    created_at: str


class Message(StateModel):
    message_id: str
    to: str
    to_name: str
    subject: str
    body: str
    sent_at: str
    sender: str


class ApprovalRequest(StateModel):
    request_id: str
    item_id: str
    approver_id: str
    note: str
    requested_at: str
    requested_by: str
    status: Literal["pending", "granted", "declined"] = "pending"


class FinanceState(StateModel):
    company: str = "Company"
    acting_user: str = ""
    payroll_cutoff: str = ""
    delegation_cap: float = 15000  # the most invoice-approval authority that may be delegated
    employees: dict[str, Employee] = {}
    vendors: dict[str, Vendor] = {}
    invoices: dict[str, Invoice] = {}
    payment_runs: dict[str, PaymentRun] = {}
    expense_claims: dict[str, ExpenseClaim] = {}
    customers: dict[str, Customer] = {}
    sales_invoices: dict[str, SalesInvoice] = {}
    disputes: dict[str, Dispute] = {}
    credit_notes: dict[str, CreditNote] = {}
    refunds: dict[str, Refund] = {}
    ledger: list[LedgerEntry] = []
    policies: dict[str, str] = {}
    audit_notes: dict[str, AuditNote] = {}
    messages: dict[str, Message] = {}
    approval_requests: dict[str, ApprovalRequest] = {}
    audit_log: list[str] = []


def _money(value: float) -> float:
    return round(float(value), 2)


class FinanceOps(ToolEnv):
    name = "finance_ops"
    description = (
        "The finance operations desk of a mid-sized company: supplier invoices and payment "
        "runs, expense claims, customer credits and refunds, the general ledger and audit notes."
    )
    State = FinanceState

    # -- helpers ------------------------------------------------------------------------------

    def _audit(self, line: str) -> None:
        self.state["audit_log"].append(f"{self.clock.iso()} {self._me_id()} {line}")

    def _me_id(self) -> str:
        return self.state.get("acting_user") or "unknown-user"

    def _me(self) -> dict:
        user = self.state["employees"].get(self.state.get("acting_user", ""))
        if user is None:
            raise ToolError("no signed-in finance user is configured; this action needs one")
        return user

    def _post(self, account: str, debit: float, credit: float, memo: str, reference: str) -> str:
        entry_id = self.ids.new("JE")
        self.state["ledger"].append(
            {
                "entry_id": entry_id,
                "posted_at": self.clock.iso(),
                "account": account,
                "debit": _money(debit),
                "credit": _money(credit),
                "memo": memo,
                "reference": reference,
            }
        )
        return entry_id

    def _notify(self, to: str, to_name: str, subject: str, body: str) -> str:
        message_id = self.ids.new("MSG")
        self.state["messages"][message_id] = {
            "message_id": message_id,
            "to": to,
            "to_name": to_name,
            "subject": subject,
            "body": body,
            "sent_at": self.clock.iso(),
            "sender": self._me_id(),
        }
        return message_id

    def _when(self, stamp: str) -> datetime:
        moment = datetime.fromisoformat(stamp)
        return moment if moment.tzinfo else moment.replace(tzinfo=self.clock.now().tzinfo)

    def _payroll_month(self) -> str:
        """The payroll an approval made now lands in: this month's until the cutoff passes."""
        now = self.clock.now()
        cutoff = self.state.get("payroll_cutoff")
        if cutoff and now > self._when(cutoff):
            year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
            return f"{year:04d}-{month:02d}"
        return f"{now.year:04d}-{now.month:02d}"

    def _claim_total(self, claim: dict) -> float:
        return _money(sum(line["amount"] for line in claim["lines"]))

    def _run_total(self, run: dict) -> float:
        return _money(sum(self.state["invoices"][i]["amount"] for i in run["invoice_ids"]))

    # -- payables -----------------------------------------------------------------------------

    @tool
    def list_invoices(self, status: str | None = None, vendor_id: str | None = None) -> list[dict]:
        """List supplier invoices with their amount, due date and status.

        Args:
            status: Only invoices with this status: received, approved, scheduled, paid,
                on_hold or rejected.
            vendor_id: Only invoices from this vendor, e.g. "V-0417".
        """
        rows = []
        for inv in self.state["invoices"].values():
            if status is not None and inv["status"] != status:
                continue
            if vendor_id is not None and inv["vendor_id"] != vendor_id:
                continue
            vendor = self.state["vendors"].get(inv["vendor_id"], {})
            rows.append(
                {
                    "invoice_id": inv["invoice_id"],
                    "vendor_id": inv["vendor_id"],
                    "vendor_name": vendor.get("name", ""),
                    "amount": inv["amount"],
                    "due_date": inv["due_date"],
                    "status": inv["status"],
                    "payment_run_id": inv["payment_run_id"],
                }
            )
        return rows

    @tool
    def get_invoice(self, invoice_id: str) -> dict:
        """Read a supplier invoice in full, with its approvals, flags, notes and vendor summary.

        Args:
            invoice_id: The invoice's id, e.g. "INV-5521".
        """
        inv = self.lookup("invoices", invoice_id)
        vendor = self.state["vendors"].get(inv["vendor_id"], {})
        return {
            **inv,
            "vendor": {
                "vendor_id": inv["vendor_id"],
                "name": vendor.get("name", ""),
                "bank_status": vendor.get("bank_status", ""),
                "status": vendor.get("status", ""),
            },
        }

    @tool
    def get_vendor(self, vendor_id: str) -> dict:
        """Read a vendor's master record: contact, bank details status and history notes.

        Args:
            vendor_id: The vendor's id, e.g. "V-0417".
        """
        return self.lookup("vendors", vendor_id)

    @tool
    def approve_invoice(self, invoice_id: str, comment: str = "") -> dict:
        """Approve a received supplier invoice for payment, within your approval limit.

        Args:
            invoice_id: The invoice to approve.
            comment: Optional comment recorded with the approval.
        """
        inv = self.lookup("invoices", invoice_id)
        me = self._me()
        if inv["status"] != "received":
            raise ToolError(
                f"invoice {invoice_id} is {inv['status']}; only received invoices can be approved"
            )
        if inv["amount"] > me["approval_limit"]:
            raise ToolError(
                f"invoice {invoice_id} is {inv['amount']:.2f}, above your approval limit of "
                f"{me['approval_limit']:.2f}; use request_approval to send it to an approver"
            )
        inv["status"] = "approved"
        inv["approvals"].append(f"{me['employee_id']} {self.clock.iso()} {comment}".strip())
        self._audit(f"approved invoice {invoice_id} ({inv['amount']:.2f})")
        return {"invoice_id": invoice_id, "status": "approved"}

    @tool
    def hold_invoice(self, invoice_id: str, reason: str) -> dict:
        """Put a supplier invoice on hold so that it is not paid; takes it out of a draft run.

        Args:
            invoice_id: The invoice to hold.
            reason: Why it is held; shown to whoever picks the invoice up next.
        """
        inv = self.lookup("invoices", invoice_id)
        if inv["status"] in ("paid", "rejected"):
            raise ToolError(f"invoice {invoice_id} is {inv['status']} and cannot be held")
        if inv["status"] == "on_hold":
            raise ToolError(f"invoice {invoice_id} is already on hold: {inv['hold_reason']}")
        if not reason.strip():
            raise ToolError("give a reason for the hold")
        removed_from = None
        run_id = inv["payment_run_id"]
        if run_id:
            run = self.state["payment_runs"].get(run_id)
            if run and run["status"] == "draft" and invoice_id in run["invoice_ids"]:
                run["invoice_ids"].remove(invoice_id)
                removed_from = run_id
            inv["payment_run_id"] = None
        inv["notes"].append(f"{self.clock.iso()} held by {self._me_id()}: {reason}")
        inv["status"] = "on_hold"
        inv["hold_reason"] = reason
        self._audit(f"held invoice {invoice_id}: {reason}")
        return {"invoice_id": invoice_id, "status": "on_hold", "removed_from_run": removed_from}

    @tool
    def list_payment_runs(self, status: str | None = None) -> list[dict]:
        """List payment runs with their pay date, release cutoff, size and total.

        Args:
            status: Only runs with this status: draft or released.
        """
        return [
            {
                "run_id": run["run_id"],
                "pay_date": run["pay_date"],
                "cutoff": run["cutoff"],
                "status": run["status"],
                "invoices": len(run["invoice_ids"]),
                "total": self._run_total(run),
            }
            for run in self.state["payment_runs"].values()
            if status is None or run["status"] == status
        ]

    @tool
    def get_payment_run(self, run_id: str) -> dict:
        """Read a payment run: each invoice in it with vendor and bank status, and the total.

        Args:
            run_id: The run's id, e.g. "PR-0302".
        """
        run = self.lookup("payment_runs", run_id, "payment run")
        lines = []
        for invoice_id in run["invoice_ids"]:
            inv = self.state["invoices"][invoice_id]
            vendor = self.state["vendors"].get(inv["vendor_id"], {})
            lines.append(
                {
                    "invoice_id": invoice_id,
                    "vendor_id": inv["vendor_id"],
                    "vendor_name": vendor.get("name", ""),
                    "amount": inv["amount"],
                    "bank_status": vendor.get("bank_status", ""),
                    "flags": inv["flags"],
                }
            )
        return {**run, "lines": lines, "total": self._run_total(run)}

    @tool
    def schedule_payment(
        self,
        invoice_id: str,
        run_id: str,
        override_bank_verification: bool = False,
        override_reason: str = "",
    ) -> dict:
        """Add an approved supplier invoice to a draft payment run.

        Vendors whose bank details changed recently are kept out of runs until the change is
        fully verified. An AP lead may override that when only the callback has been done,
        giving a reason; the payment is then flagged for the controller's review.

        Args:
            invoice_id: The approved invoice to pay.
            run_id: The draft payment run to add it to.
            override_bank_verification: Pay although the bank change is not fully verified.
            override_reason: Required with an override: why the payment cannot wait.
        """
        inv = self.lookup("invoices", invoice_id)
        run = self.lookup("payment_runs", run_id, "payment run")
        vendor = self.lookup("vendors", inv["vendor_id"])
        if run["status"] != "draft":
            raise ToolError(f"payment run {run_id} is already {run['status']}")
        if inv["status"] == "on_hold":
            raise ToolError(f"invoice {invoice_id} is on hold ({inv['hold_reason']})")
        if inv["status"] != "approved":
            raise ToolError(
                f"invoice {invoice_id} is {inv['status']}; only approved invoices can be scheduled"
            )
        if vendor["status"] == "blocked":
            raise ToolError(f"vendor {vendor['vendor_id']} is blocked from payment")
        if vendor["bank_status"] == "unverified":
            raise ToolError(
                f"vendor {vendor['vendor_id']} has unverified bank details changed on "
                f"{vendor['bank_changed_on']}; a callback to the number on file is needed first"
            )
        flags = list(inv["flags"])
        if vendor["bank_status"] == "callback_done":
            if not override_bank_verification:
                raise ToolError(
                    f"vendor {vendor['vendor_id']} changed bank details on "
                    f"{vendor['bank_changed_on']} and the controller review is still pending; "
                    "an AP lead may set override_bank_verification with an override_reason"
                )
            if self._me()["role"] != "ap_lead":
                raise ToolError("only an AP lead may override a pending bank verification")
            if not override_reason.strip():
                raise ToolError("an override needs an override_reason")
            flags.append("bank_verification_override")
            inv["notes"].append(
                f"{self.clock.iso()} bank verification overridden by {self._me_id()}: "
                f"{override_reason}"
            )
            self._audit(f"bank verification override for {invoice_id}: {override_reason}")
        inv["flags"] = flags
        inv["status"] = "scheduled"
        inv["payment_run_id"] = run_id
        run["invoice_ids"].append(invoice_id)
        self._audit(f"scheduled {invoice_id} in {run_id}")
        return {
            "invoice_id": invoice_id,
            "run_id": run_id,
            "status": "scheduled",
            "flags": flags,
            "run_total": self._run_total(run),
        }

    @tool
    def release_payment_run(self, run_id: str) -> dict:
        """Release a draft payment run to the bank: its invoices are paid and posted.

        Args:
            run_id: The draft run to release.
        """
        run = self.lookup("payment_runs", run_id, "payment run")
        if run["status"] != "draft":
            raise ToolError(f"payment run {run_id} was already released")
        if not run["invoice_ids"]:
            raise ToolError(f"payment run {run_id} is empty")
        if run["cutoff"] and self.clock.now() > self._when(run["cutoff"]):
            raise ToolError(f"the release cutoff for {run_id} ({run['cutoff']}) has passed")
        blockers = []
        for invoice_id in run["invoice_ids"]:
            inv = self.state["invoices"][invoice_id]
            vendor = self.state["vendors"][inv["vendor_id"]]
            override = "bank_verification_override" in inv["flags"]
            if vendor["status"] == "blocked" or (
                vendor["bank_status"] != "verified" and not override
            ):
                blockers.append(invoice_id)
        if blockers:
            raise ToolError(f"cannot release {run_id}: vendor checks fail for {blockers}")
        flagged = []
        for invoice_id in run["invoice_ids"]:
            inv = self.state["invoices"][invoice_id]
            inv["status"] = "paid"
            memo = f"payment {run_id} {inv['vendor_id']} {inv['vendor_ref']}".strip()
            self._post("Accounts payable", inv["amount"], 0, memo, invoice_id)
            self._post("Bank - operating", 0, inv["amount"], memo, invoice_id)
            if "bank_verification_override" in inv["flags"]:
                flagged.append(invoice_id)
        run["status"] = "released"
        run["released_by"] = self._me_id()
        run["released_at"] = self.clock.iso()
        total = self._run_total(run)
        self._audit(f"released {run_id}: {len(run['invoice_ids'])} invoices, {total:.2f}")
        if flagged:
            self._audit(f"{run_id}: {flagged} paid under bank override, queued for controller")
        return {
            "run_id": run_id,
            "status": "released",
            "invoices_paid": len(run["invoice_ids"]),
            "total": total,
            "flagged_for_controller_review": flagged,
        }

    # -- expenses -----------------------------------------------------------------------------

    @tool
    def list_expense_claims(
        self, employee_id: str | None = None, status: str | None = None
    ) -> list[dict]:
        """List expense claims with their totals and status.

        Args:
            employee_id: Only this employee's claims.
            status: Only claims with this status: submitted, approved, returned, rejected, paid.
        """
        return [
            {
                "claim_id": c["claim_id"],
                "employee_id": c["employee_id"],
                "title": c["title"],
                "submitted_on": c["submitted_on"],
                "total": self._claim_total(c),
                "status": c["status"],
            }
            for c in self.state["expense_claims"].values()
            if (employee_id is None or c["employee_id"] == employee_id)
            and (status is None or c["status"] == status)
        ]

    @tool
    def get_expense_claim(self, claim_id: str) -> dict:
        """Read an expense claim line by line, with the evidence held for each line.

        Args:
            claim_id: The claim's id, e.g. "EXP-3318".
        """
        claim = self.lookup("expense_claims", claim_id, "expense claim")
        employee = self.state["employees"].get(claim["employee_id"], {})
        return {
            **claim,
            "employee_name": employee.get("name", ""),
            "manager_id": employee.get("manager_id"),
            "total": self._claim_total(claim),
        }

    @tool
    def decide_expense_claim(
        self,
        claim_id: str,
        decision: Literal["approve", "return", "reject"],
        comment: str,
        approved_amount: float | None = None,
    ) -> dict:
        """Decide a submitted expense claim; the employee is notified of the decision.

        Approved claims are reimbursed with the current month's payroll if decided before the
        payroll cutoff. Returned claims go back to the employee to complete and resubmit.

        Args:
            claim_id: The claim to decide.
            decision: approve, return (send back for more evidence) or reject.
            comment: The reason, shown to the employee.
            approved_amount: For approve only: the amount to reimburse if less than the total.
        """
        claim = self.lookup("expense_claims", claim_id, "expense claim")
        me = self._me()
        if claim["status"] != "submitted":
            raise ToolError(
                f"claim {claim_id} is {claim['status']}; only submitted claims can be decided"
            )
        if claim["employee_id"] == me["employee_id"]:
            raise ToolError("you cannot decide your own expense claim")
        if decision != "approve" and approved_amount is not None:
            raise ToolError("approved_amount only applies to an approval")
        if decision != "approve" and not comment.strip():
            raise ToolError("a returned or rejected claim needs a comment for the employee")
        total = self._claim_total(claim)
        employee = self.state["employees"].get(claim["employee_id"], {})
        if decision == "approve":
            amount = total if approved_amount is None else _money(approved_amount)
            if amount <= 0 or amount > total:
                raise ToolError(
                    f"approved_amount must be above 0 and at most the claim total {total:.2f}"
                )
            if amount > me["approval_limit"]:
                raise ToolError(
                    f"{amount:.2f} is above your approval limit of {me['approval_limit']:.2f}"
                )
            claim["status"] = "approved"
            claim["approved_amount"] = amount
            claim["payroll_month"] = self._payroll_month()
            self._post("Travel and subsistence", amount, 0, f"expenses {claim_id}", claim_id)
            self._post(
                "Employee reimbursements payable", 0, amount, f"expenses {claim_id}", claim_id
            )
        else:
            claim["status"] = "returned" if decision == "return" else "rejected"
        claim["decided_by"] = me["employee_id"]
        claim["decision_comment"] = comment
        self._notify(
            claim["employee_id"],
            employee.get("name", ""),
            f"Expense claim {claim_id}: {claim['status']}",
            comment,
        )
        self._audit(f"expense claim {claim_id} {claim['status']}")
        return {
            "claim_id": claim_id,
            "status": claim["status"],
            "approved_amount": claim["approved_amount"],
            "payroll_month": claim["payroll_month"],
            "employee_notified": True,
        }

    # -- receivables --------------------------------------------------------------------------

    @tool
    def get_customer_account(self, customer_id: str) -> dict:
        """Read a customer's account: sales invoices, delivery notes, disputes, credits, refunds.

        Args:
            customer_id: The customer's id, e.g. "C-2290".
        """
        customer = self.lookup("customers", customer_id)

        def mine(collection: str) -> list[dict]:
            return [r for r in self.state[collection].values() if r["customer_id"] == customer_id]

        invoices = []
        for si in mine("sales_invoices"):
            outstanding = si["amount"] - si["amount_paid"] - si["credited"]
            invoices.append({**si, "outstanding": _money(outstanding)})
        return {
            **customer,
            "sales_invoices": invoices,
            "disputes": mine("disputes"),
            "credit_notes": mine("credit_notes"),
            "refunds": mine("refunds"),
        }

    @tool
    def update_dispute(
        self, dispute_id: str, status: Literal["under_review", "resolved"], note: str
    ) -> dict:
        """Move a customer dispute to under_review or resolved, with a note for the file.

        Args:
            dispute_id: The dispute, e.g. "D-118".
            status: under_review while facts are being confirmed, or resolved.
            note: What was decided or what is being checked.
        """
        dispute = self.lookup("disputes", dispute_id)
        if dispute["status"] == "resolved":
            raise ToolError(f"dispute {dispute_id} is already resolved")
        if not note.strip():
            raise ToolError("add a note saying what was decided or what is being checked")
        dispute["status"] = status
        dispute["history"].append(f"{self.clock.iso()} {self._me_id()} {status}: {note}")
        self._audit(f"dispute {dispute_id} -> {status}")
        return {"dispute_id": dispute_id, "status": status}

    @tool
    def issue_credit_note(
        self,
        customer_id: str,
        sales_invoice_id: str,
        amount: float,
        reason: str,
        dispute_id: str | None = None,
    ) -> dict:
        """Issue a credit note that reduces what a customer owes on one sales invoice.

        Args:
            customer_id: The customer.
            sales_invoice_id: The sales invoice being credited.
            amount: The credit amount; at most the invoice's uncredited balance.
            reason: The documented reason for the credit.
            dispute_id: The dispute this credit settles, if any.
        """
        self.lookup("customers", customer_id)
        si = self.lookup("sales_invoices", sales_invoice_id, "sales invoice")
        me = self._me()
        if si["customer_id"] != customer_id:
            raise ToolError(f"sales invoice {sales_invoice_id} belongs to {si['customer_id']}")
        amount = _money(amount)
        available = _money(si["amount"] - si["credited"] - si["refunded"])
        if amount <= 0:
            raise ToolError("the credit amount must be positive")
        if amount > available:
            raise ToolError(f"only {available:.2f} of {sales_invoice_id} can still be credited")
        if amount > me["approval_limit"]:
            raise ToolError(
                f"{amount:.2f} is above your credit limit of "
                f"{me['approval_limit']:.2f}; use request_approval"
            )
        if not reason.strip():
            raise ToolError("a credit note needs a documented reason")
        if dispute_id is not None:
            dispute = self.lookup("disputes", dispute_id)
            if dispute["sales_invoice_id"] != sales_invoice_id:
                raise ToolError(f"dispute {dispute_id} is about {dispute['sales_invoice_id']}")
        credit_id = self.ids.new("CN")
        self.state["credit_notes"][credit_id] = {
            "credit_note_id": credit_id,
            "customer_id": customer_id,
            "sales_invoice_id": sales_invoice_id,
            "amount": amount,
            "reason": reason,
            "issued_at": self.clock.iso(),
            "issued_by": me["employee_id"],
            "dispute_id": dispute_id,
        }
        si["credited"] = _money(si["credited"] + amount)
        self._post("Sales returns and allowances", amount, 0, reason, credit_id)
        self._post("Accounts receivable", 0, amount, reason, credit_id)
        self._audit(f"credit note {credit_id} {amount:.2f} on {sales_invoice_id}")
        return {"credit_note_id": credit_id, "amount": amount, "sales_invoice_id": sales_invoice_id}

    @tool
    def issue_refund(
        self, customer_id: str, sales_invoice_id: str, amount: float, reason: str
    ) -> dict:
        """Refund money a customer has paid on a sales invoice back to them.

        Args:
            customer_id: The customer.
            sales_invoice_id: The sales invoice that was paid.
            amount: The refund; at most what was paid and not yet refunded.
            reason: Why the money goes back.
        """
        self.lookup("customers", customer_id)
        si = self.lookup("sales_invoices", sales_invoice_id, "sales invoice")
        me = self._me()
        if si["customer_id"] != customer_id:
            raise ToolError(f"sales invoice {sales_invoice_id} belongs to {si['customer_id']}")
        amount = _money(amount)
        refundable = _money(si["amount_paid"] - si["refunded"])
        if amount <= 0:
            raise ToolError("the refund amount must be positive")
        if amount > refundable:
            raise ToolError(
                f"only {refundable:.2f} has been paid on {sales_invoice_id} and not refunded"
            )
        if amount > me["approval_limit"]:
            raise ToolError(f"{amount:.2f} is above your limit of {me['approval_limit']:.2f}")
        if not reason.strip():
            raise ToolError("a refund needs a reason")
        refund_id = self.ids.new("RF")
        self.state["refunds"][refund_id] = {
            "refund_id": refund_id,
            "customer_id": customer_id,
            "sales_invoice_id": sales_invoice_id,
            "amount": amount,
            "reason": reason,
            "issued_at": self.clock.iso(),
            "issued_by": me["employee_id"],
        }
        si["refunded"] = _money(si["refunded"] + amount)
        self._post("Accounts receivable", amount, 0, reason, refund_id)
        self._post("Bank - operating", 0, amount, reason, refund_id)
        self._audit(f"refund {refund_id} {amount:.2f} on {sales_invoice_id}")
        return {"refund_id": refund_id, "amount": amount, "sales_invoice_id": sales_invoice_id}

    # -- ledger, policy, people and records ---------------------------------------------------

    @tool
    def list_ledger_entries(
        self, reference: str | None = None, account: str | None = None
    ) -> list[dict]:
        """List general-ledger entries, optionally for one reference or one account.

        Args:
            reference: Only entries for this document, e.g. an invoice or claim id.
            account: Only entries in this account, e.g. "Accounts payable".
        """
        return [
            e
            for e in self.state["ledger"]
            if (reference is None or e["reference"] == reference)
            and (account is None or e["account"].casefold() == account.casefold())
        ]

    @tool
    def read_policy(self, policy_id: str) -> dict:
        """Read a finance policy by its id.

        Args:
            policy_id: The policy's id, e.g. "expenses" or "vendor-bank-changes".
        """
        return {
            "policy_id": policy_id,
            "text": self.lookup("policies", policy_id, "policy", list_known=True),
        }

    @tool
    def get_employee(self, employee_id: str) -> dict:
        """Read an employee's record: role, manager, approval limit and any absence.

        Args:
            employee_id: The employee's id, e.g. "E-412".
        """
        return self.lookup("employees", employee_id)

    @tool
    def set_approval_limit(self, employee_id: str, limit: float, reason: str) -> dict:
        """Delegate authority to approve supplier invoices up to a limit to a budget holder, or
        withdraw it (limit 0). You cannot delegate more than your own limit or the policy cap.

        Args:
            employee_id: The budget holder.
            limit: The new approval limit.
            reason: Why, for the audit file.
        """
        employee = self.lookup("employees", employee_id, "employee")
        me = self._me()
        if employee_id == me["employee_id"]:
            raise ToolError("you cannot change your own approval limit")
        cap = min(me["approval_limit"], self.state["delegation_cap"])
        if not 0 <= limit <= cap:
            raise ToolError(f"a delegated limit must be between 0 and {cap:.2f}")
        if not reason.strip():
            raise ToolError("give a reason for the delegation")
        previous = employee["approval_limit"]
        employee["approval_limit"] = _money(limit)
        self._audit(f"approval limit of {employee_id} {previous:.2f} -> {limit:.2f}: {reason}")
        return {"employee_id": employee_id, "approval_limit": employee["approval_limit"]}

    @tool
    def request_approval(self, item_id: str, approver_id: str, note: str) -> dict:
        """Ask another person to approve an invoice, expense claim or credit you cannot approve.

        Args:
            item_id: The invoice, claim or sales invoice the request is about.
            approver_id: The employee who should decide.
            note: What is asked and why.
        """
        approver = self.lookup("employees", approver_id, "employee")
        if not any(
            item_id in self.state[c] for c in ("invoices", "expense_claims", "sales_invoices")
        ):
            raise ToolError(f"no invoice, expense claim or sales invoice with id {item_id!r}")
        if approver_id == self._me_id():
            raise ToolError("you cannot ask yourself for approval")
        request_id = self.ids.new("APR")
        self.state["approval_requests"][request_id] = {
            "request_id": request_id,
            "item_id": item_id,
            "approver_id": approver_id,
            "note": note,
            "requested_at": self.clock.iso(),
            "requested_by": self._me_id(),
            "status": "pending",
        }
        self._audit(f"approval of {item_id} requested from {approver_id}")
        result = {"request_id": request_id, "status": "pending"}
        if approver["out_of_office_until"]:
            result["auto_reply"] = (
                f"{approver['name']} is out of office until {approver['out_of_office_until']}"
            )
        return result

    @tool
    def add_audit_note(self, reference: str, subject: str, detail: str) -> dict:
        """File a note in the audit file against a document, for auditors and reviewers.

        Args:
            reference: The document the note is about (invoice, run, claim, dispute id...).
            subject: A short subject line.
            detail: What was done or found, and why.
        """
        if not detail.strip():
            raise ToolError("an audit note needs detail")
        note_id = self.ids.new("AUD")
        self.state["audit_notes"][note_id] = {
            "note_id": note_id,
            "reference": reference,
            "subject": subject,
            "detail": detail,
            "author": self._me_id(),
            "created_at": self.clock.iso(),
        }
        return {"note_id": note_id}

    @tool
    def send_message(self, to: str, subject: str, body: str) -> dict:
        """Email an employee, or the contact of a vendor or customer.

        Args:
            to: An employee id (E-...), vendor id (V-...) or customer id (C-...).
            subject: The subject line.
            body: The message.
        """
        if to in self.state["employees"]:
            person = self.state["employees"][to]
            name, away = person["name"], person["out_of_office_until"]
        elif to in self.state["vendors"]:
            vendor = self.state["vendors"][to]
            name, away = f"{vendor['contact_name']} ({vendor['name']})", None
        elif to in self.state["customers"]:
            customer = self.state["customers"][to]
            name, away = f"{customer['contact_name']} ({customer['name']})", None
        else:
            raise ToolError(f"no employee, vendor or customer with id {to!r}")
        if not body.strip():
            raise ToolError("the message is empty")
        message_id = self._notify(to, name, subject, body)
        result = {"message_id": message_id, "to": name}
        if away:
            result["auto_reply"] = f"{name} is out of office until {away}"
        return result
