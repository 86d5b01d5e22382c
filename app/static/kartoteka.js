/* Kartoteka: a customer or order chosen by typing (app/lookups.py). */
function kartotekaLookup(selector) {
  var element = $(selector);
  var o = element.data('lookup');
  element.select2({
    theme: 'bootstrap',
    allowClear: true,
    placeholder: o.placeholder,
    minimumInputLength: o.minimum === undefined ? 2 : o.minimum,
    ajax: {
      url: o.url,
      dataType: 'json',
      delay: 250,
      data: function (params) { return {q: params.term}; },
      processResults: function (data) { return {results: data.results}; }
    }
  });
}

/* FAB's Select2 and datepicker speak English only: give them the page's language
   (the texts come from the server, app/rendering.py widget_locale). */
function kartotekaWidgetLanguage(texts) {
  $(function () {
    if ($.fn.select2) {
      var s = texts.select2;
      $.fn.select2.defaults.set('language', {
        inputTooShort: function () { return s.inputTooShort; },
        noResults: function () { return s.noResults; },
        searching: function () { return s.searching; },
        errorLoading: function () { return s.errorLoading; },
        loadingMore: function () { return s.loadingMore; },
        removeAllItems: function () { return s.removeAllItems; }
      });
    }
    // FAB's own alerts (ab_actions.js) are written in English: say them in the page's language
    if (typeof window.ab_alert === 'function' && !window.ab_alert.kartoteka) {
      var fabAlert = window.ab_alert;
      window.ab_alert = function (text) { return fabAlert(texts.fab[text] || text); };
      window.ab_alert.kartoteka = true;
    }
    if ($.fn.datepicker) {
      $.fn.datepicker.dates[texts.code] = texts.datepicker;
      $.fn.datepicker.defaults.language = texts.code;
      $.fn.datepicker.defaults.weekStart = texts.datepicker.weekStart;
    }
  });
}
