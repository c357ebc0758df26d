/* Atrium: the searched relation pickers of add/edit forms (app/views/relation_picker.py).
 *
 * Every <select data-picker-url> becomes a Select2 (4.0.13, loaded by FAB's layout) that
 * asks its view's picker endpoint for 20 rows at a time as the person types (text, a
 * number or #id) and scrolls. The <select> holds only the chosen option; FAB's ab.js
 * initialises ".my_select2" elements, which these are not. Select2's own words come from
 * the layout's #atrium-i18n block (by their English text: the page's language).
 */
(function ($) {
    "use strict";

    var source = document.getElementById("atrium-i18n");
    var words = source ? JSON.parse(source.textContent) : {};

    function t(text) {
        return function () { return words[text] || text; };
    }

    var language = {
        errorLoading: t("The results could not be loaded."),
        loadingMore: t("Loading more results…"),
        noResults: t("No results found"),
        searching: t("Searching…"),
        removeAllItems: t("Remove all items")
    };

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
            language: language,
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
        nameSelection($select);
    }

    // Select2 names its box by the chosen text alone and gives that text role="textbox"
    // with no name: both take the field's <label> too (screen readers say "Project, ...").
    function nameSelection($select) {
        var id = $select.attr("id");
        var $label = id ? $("label[for='" + id + "']").first() : $();
        var $selection = $select.next(".select2-container").find(".select2-selection").first();
        var $rendered = $selection.find(".select2-selection__rendered").first();
        if (!$label.length || !$rendered.length) {
            return;
        }
        var labelId = $label.attr("id") || id + "-label";
        $label.attr("id", labelId);
        $rendered.attr("aria-labelledby", labelId);
        $selection.attr("aria-labelledby", labelId + " " + $rendered.attr("id"));
    }

    $(function () {
        $("select[data-picker-url]").each(function () {
            initPicker(this);
        });
    });
}(window.jQuery));
