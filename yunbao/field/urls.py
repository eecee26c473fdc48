"""URLs of the field app: the worker's tasks, the supervisor's checks, the reporter's verdict."""

from django.urls import path

from yunbao.field import views

app_name = "field"
urlpatterns = [
    path("tasks/", views.tasks, name="tasks"),
    path("tasks/<str:number>/", views.task, name="task"),
    path("tasks/<str:number>/<str:action>/", views.task_action, name="task-action"),
    path("check/", views.check_queue, name="check-queue"),
    path("check/<str:number>/", views.check_order, name="check"),
    path("check/<str:number>/<str:action>/", views.check_action, name="check-action"),
    path("t/<str:token>/<str:action>/", views.reporter_action, name="reporter-action"),
]
