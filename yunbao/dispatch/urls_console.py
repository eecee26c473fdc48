"""The dispatcher's console: the page, the queue it polls, the order panel and its moves."""

from django.urls import path

from yunbao.dispatch import console

urlpatterns = [
    path("", console.console, name="dispatch-console"),
    path("queue.json", console.queue_json, name="dispatch-console-queue"),
    path("bulk/", console.bulk, name="dispatch-console-bulk"),
    path("order/<str:number>/", console.order_panel, name="dispatch-console-order"),
    path("order/<str:number>/<str:action>/", console.order_action, name="dispatch-console-action"),
]
