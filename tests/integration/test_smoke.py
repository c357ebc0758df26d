from tests.conftest import login


def test_admin_sees_ticket_list(client):
    login(client, "admin")
    page = client.get("/ticketview/list/")
    assert page.status_code == 200
    assert "Contact form not sending emails" in page.get_data(as_text=True)
