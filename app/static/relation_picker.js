/* Atrium: the searched relation pickers of add/edit forms (app/views/relation_picker.py).
 *
 * Every <select data-picker-url> becomes a Select2 (4.0.13, loaded by FAB's layout) that
 * asks its view's picker endpoint for 20 rows at a time as the person types (text, a
 * number or #id) and scrolls. The <select> holds only the chosen option; FAB's ab.js
 * initialises ".my_select2" elements, which these are not.
 */
(function ($) {
    "use strict";

    function initPicker(element) {
        var $select = $(element);
        if ($select.data("select2")) {
            $select.select2("destroy");
        }
        $select.select2({
            theme: "bootstrap",
            width: "100%",
            placeholder: $select.attr("data-placeholder") || "",
            allowClear: $select.attr("data-allow-clear") === "true",
            minimumInputLength: 0,
            ajax: {
                url: $select.attr("data-picker-url"),
                dataType: "json",
                delay: 250,
                cache: true,
                data: function (params) {
                    return {q: params.term || "", page: params.page || 1};
                }
            }
        });
    }

    $(function () {
        $("select[data-picker-url]").each(function () {
            initPicker(this);
        });
    });
}(window.jQuery));
