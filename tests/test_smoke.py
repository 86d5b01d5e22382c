from tests import factories


def test_manager_sees_customer_list_in_russian(app, ctx, login_as):
    factories.customer(ctx, last_name="Смирнова", phone="+79031112233", email="smirnova@example.ru")
    client = login_as("manager")
    page = client.get("/customerview/list/").get_data(as_text=True)
    assert "Клиенты" in page
    assert "Смирнова Анна Сергеевна" in page
    assert "8 (903) 111-22-33" in page
