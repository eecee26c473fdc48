"""URLs of the community pages (mounted at /community/)."""

from django.urls import path

from yunbao.community import views

app_name = "community"
urlpatterns = [
    path("", views.calendar, name="calendar"),
    path("a/<int:activity_id>/", views.activity_page, name="activity"),
    path("a/<int:activity_id>/sign-up/", views.sign_up, name="sign-up"),
    path("a/<int:activity_id>/cancel/", views.cancel_sign_up, name="cancel"),
    path("a/<int:activity_id>/calendar.ics", views.ics, name="ics"),
    path("c/<str:token>/", views.check_in, name="check-in"),
    path("me/", views.my_points, name="me"),
    path("leaderboard/", views.leaderboard, name="leaderboard"),
    path("manage/", views.manage_list, name="manage-list"),
    path("manage/new/", views.manage_new, name="manage-new"),
    path("manage/<int:activity_id>/", views.manage, name="manage"),
    path("manage/<int:activity_id>/edit/", views.manage_edit, name="manage-edit"),
    path("manage/<int:activity_id>/poster/<str:which>/", views.poster, name="poster"),
    path(
        "manage/<int:activity_id>/poster/<str:which>/poster.png",
        views.poster_png,
        name="poster-png",
    ),
    path("manage/<int:activity_id>/poster/<str:which>/qr.png", views.poster_qr, name="poster-qr"),
    path("manage/<int:activity_id>/<str:action>/", views.manage_action, name="manage-action"),
]
