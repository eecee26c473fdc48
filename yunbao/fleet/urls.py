"""Fleet pages under /fleet/: tracks, live positions, attendance and coverage."""

from django.urls import URLPattern, URLResolver, path

from yunbao.fleet import views_attendance, views_live

app_name = "fleet"
urlpatterns: list[URLPattern | URLResolver] = [
    # Live positions, devices and tracks (views_live).
    path("live/", views_live.live, name="live"),
    path("live.json", views_live.live_json, name="live-json"),
    path("devices/", views_live.device_list, name="devices"),
    path("devices/<int:pk>/track/", views_live.track, name="track"),
    # Attendance and coverage (views_attendance).
    path("attendance/", views_attendance.attendance, name="attendance"),
    path("attendance/export.xlsx", views_attendance.attendance_xlsx, name="attendance-xlsx"),
    path("coverage/", views_attendance.coverage_page, name="coverage"),
]
