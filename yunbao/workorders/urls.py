"""Order pages."""

from django.urls import path

from yunbao.workorders import views

urlpatterns = [
    path("<str:number>/", views.order_detail, name="order-detail"),
    path("<str:number>/move/<str:action>/", views.order_move, name="order-move"),
]
