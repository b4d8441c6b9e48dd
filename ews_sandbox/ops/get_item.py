"""GetItem: items by id, in the shape the request asks for."""
from ..wire.item_shape import ItemRenderer, ItemShape
from ..wire.ns import m
from ..wire.soap import respond_each
from .context import item_ids


def get_item(ctx, body):
    renderer = ItemRenderer(ctx.conn, ItemShape.parse(body.find(m("ItemShape"))))

    def handle(item_id, message):
        renderer.render(ctx.item(item_id), message.find(m("Items")))

    return respond_each("GetItem", item_ids(body.find(m("ItemIds"))), handle, container="Items")


OPERATIONS = {"GetItem": get_item}
