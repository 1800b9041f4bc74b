"""Dataset and vendor registers: lists with filters and pagination, datasheets, forms."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from catalog.choices import DataClassification, DpaStatus
from catalog.forms.registers import DatasetForm, VendorForm
from catalog.models import AISystem, Dataset, Vendor
from catalog.permissions import can_edit_register
from catalog.selectors.gaps import ownership_gaps
from catalog.services.registers import dataset_save, vendor_save
from clearance.web import AuthenticatedHttpRequest, get_visible_or_404, paginate, run_service


def _filter_text(qs: Any, q: str, *fields: str) -> Any:
    if not q:
        return qs
    condition = Q()
    for name in fields:
        condition |= Q(**{f"{name}__icontains": q})
    return qs.filter(condition)


def _visible_systems(user: User) -> Prefetch[Any]:
    """A register row names only the systems the viewer may open (as ``visible_systems``): the
    others answer 404 for them, so their slugs are not theirs to read."""
    return Prefetch("systems", queryset=AISystem.objects.visible_to(user).order_by("name"), to_attr="visible_systems")


@login_required
def dataset_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    qs = Dataset.objects.visible_to(request.user).select_related("owner").prefetch_related(_visible_systems(request.user))
    q = request.GET.get("q", "").strip()
    classification = request.GET.get("classification", "")
    personal = request.GET.get("personal", "")
    system = request.GET.get("system", "")
    qs = _filter_text(qs, q, "name", "source", "description")
    if classification in DataClassification.values:
        qs = qs.filter(classification=classification)
    if personal in ("yes", "no"):
        qs = qs.filter(personal_data=personal == "yes")
    if system:
        # Only a system the viewer may open filters; another slug must not tell what links to it.
        qs = qs.filter(systems__in=AISystem.objects.visible_to(request.user).filter(slug=system))
    return render(request, "catalog/dataset_list.html", {
        "page": paginate(request, qs.order_by("name")), "q": q, "classification": classification, "personal": personal,
        "system": system, "classifications": DataClassification.choices,
        "systems": AISystem.objects.visible_to(request.user).order_by("name").values_list("slug", "name"),
        "can_edit": can_edit_register(request.user),
    })


@login_required
def dataset_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    dataset = get_visible_or_404(Dataset.objects.visible_to(request.user).select_related("owner"), pk=pk)
    return render(request, "catalog/dataset_detail.html", {
        "dataset": dataset, "systems": AISystem.objects.visible_to(request.user).filter(datasets=dataset),
        "can_edit": can_edit_register(request.user),
    })


def _register_form(request: AuthenticatedHttpRequest, *, form_class: type, instance: Any, save: Any, label: str,
                   template: str) -> HttpResponse:
    if not can_edit_register(request.user):
        raise PermissionDenied(f"only the governance team and system owners maintain {label}s")
    form = form_class(request.POST or None, instance=instance, user=request.user)
    if request.method == "POST" and form.is_valid():
        fields = {name: form.cleaned_data[name] for name in form.Meta.fields}
        obj = run_service(request, form, lambda: save(actor=request.user, instance=instance,
                                                      systems=form.cleaned_data["systems"], fields=fields),
                          f"{label.capitalize()} saved.")
        if obj is not None:
            return redirect(obj.get_absolute_url())
    return render(request, template, {"form": form, "object": instance, "label": label})


def _save_dataset(*, actor: User, instance: Dataset | None, systems: Any, fields: dict[str, Any]) -> Dataset:
    return dataset_save(actor=actor, dataset=instance, systems=systems, **fields)


def _save_vendor(*, actor: User, instance: Vendor | None, systems: Any, fields: dict[str, Any]) -> Vendor:
    return vendor_save(actor=actor, vendor=instance, systems=systems, **fields)


@login_required
@require_http_methods(["GET", "POST"])
def dataset_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _register_form(request, form_class=DatasetForm, instance=None, save=_save_dataset, label="dataset",
                          template="catalog/register_form.html")


@login_required
@require_http_methods(["GET", "POST"])
def dataset_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    dataset = get_visible_or_404(Dataset.objects.visible_to(request.user), pk=pk)
    return _register_form(request, form_class=DatasetForm, instance=dataset, save=_save_dataset, label="dataset",
                          template="catalog/register_form.html")


@login_required
def vendor_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    qs = Vendor.objects.visible_to(request.user).select_related("owner").prefetch_related(_visible_systems(request.user))
    q = request.GET.get("q", "").strip()
    dpa = request.GET.get("dpa", "")
    residency = request.GET.get("residency", "").strip()
    qs = _filter_text(qs, q, "name", "notes")
    if dpa in DpaStatus.values:
        qs = qs.filter(dpa_status=dpa)
    if residency:
        qs = qs.filter(data_residency__icontains=residency)
    return render(request, "catalog/vendor_list.html", {
        "page": paginate(request, qs.order_by("name")), "q": q, "dpa": dpa, "residency": residency,
        "dpa_choices": DpaStatus.choices, "can_edit": can_edit_register(request.user),
    })


@login_required
def vendor_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    vendor = get_visible_or_404(Vendor.objects.visible_to(request.user).select_related("owner"), pk=pk)
    return render(request, "catalog/vendor_detail.html", {
        "vendor": vendor, "systems": AISystem.objects.visible_to(request.user).filter(vendors=vendor),
        "can_edit": can_edit_register(request.user),
    })


@login_required
@require_http_methods(["GET", "POST"])
def vendor_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _register_form(request, form_class=VendorForm, instance=None, save=_save_vendor, label="vendor",
                          template="catalog/register_form.html")


@login_required
@require_http_methods(["GET", "POST"])
def vendor_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    vendor = get_visible_or_404(Vendor.objects.visible_to(request.user), pk=pk)
    return _register_form(request, form_class=VendorForm, instance=vendor, save=_save_vendor, label="vendor",
                          template="catalog/register_form.html")


@login_required
def ownership_gaps_report(request: AuthenticatedHttpRequest) -> HttpResponse:
    today = timezone.localdate()
    return render(request, "catalog/ownership_gaps.html", {"report": ownership_gaps(request.user, today),
                                                            "today": today})
