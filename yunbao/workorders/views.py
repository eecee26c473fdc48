"""Order pages."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from yunbao.workorders.models import WorkOrder


@login_required
def order_detail(request: HttpRequest, number: str) -> HttpResponse:
    order = get_object_or_404(WorkOrder.objects.visible_to(request.user), number=number)
    return render(request, "workorders/order_detail.html", {"order": order})
