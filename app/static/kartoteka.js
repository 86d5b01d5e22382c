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
  // a refused choice: the box Select2 draws (the select is hidden) says so and takes the focus
  var shown = element.next('.select2').find('.select2-selection');
  $.each(['aria-invalid', 'aria-describedby'], function (i, name) {
    if (element.attr(name)) { shown.attr(name, element.attr(name)); }
  });
  if (element.is('[autofocus]')) { shown.trigger('focus'); }
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

/* A date box and its calendar button (app/forms.py TypedDateWidget). The box is
   plain text: what the user types is never rewritten. The calendar is opened only
   by its button, on an anchor made here (so that FAB's filter code, which renames
   every input of a filter field, never sees it), and writes the chosen day into the
   box in the page language's format, keeping a typed time. */
$(document).on('click', '.kartoteka-calendar', function () {
  if (!$.fn.datepicker) { return; }
  var group = $(this).closest('.kartoteka-date');
  var box = group.find('.kartoteka-date-text');
  var anchor = group.find('.kartoteka-date-anchor');
  var withTime = !!group.data('time');
  if (!anchor.length) {
    anchor = $('<input type="text" tabindex="-1" aria-hidden="true" class="kartoteka-date-anchor">')
      .css({position: 'absolute', left: 0, bottom: 0, width: 1, height: 1, opacity: 0, border: 0, padding: 0})
      .appendTo(group.css('position', 'relative'));
    anchor.datepicker({
      format: String(group.data('format')),
      autoclose: true,
      forceParse: false,
      showOnFocus: false,
      keyboardNavigation: false,
      todayHighlight: true
    }).on('changeDate', function () {
      var day = anchor.datepicker('getFormattedDate');
      var time = withTime ? (box.val().trim().split(/[\s,]+/)[1] || '') : '';
      box.val(withTime ? (day + ' ' + time).replace(/\s+$/, ' ') : day).trigger('change');
      box.trigger('focus');
      var end = box.val().length;
      if (box[0].setSelectionRange) { box[0].setSelectionRange(end, end); }
    });
  }
  var typed = box.val().trim().split(/[\s,]+/)[0];
  anchor.val(typed);
  anchor.datepicker('update', typed || '');
  anchor.datepicker('show');
});

/* Select2 opened with the mouse or the keyboard puts the cursor in its search box
   (with jQuery 3.6 it stopped doing so: typing went nowhere). */
$(document).on('select2:open', function () {
  var focus = function () {
    var search = document.querySelector('.select2-container--open .select2-search__field');
    if (search && document.activeElement !== search) { search.focus(); }
  };
  focus();
  window.setTimeout(focus, 0);
});

/* A customer's form asks for the fields of the customer type chosen: the
   organisation's name for a legal entity or a sole proprietor, and the extra
   fields an administrator defined for that type (every type's showed at once), and
   the person fields labelled as the type has them. */
$(function () {
  var type = $('select[name=customer_type]');
  if (!type.length) { return; }
  function follow() {
    var chosen = type.val();
    $('[data-customer-types]').each(function () {
      var shown = String($(this).data('customer-types')).split(' ').indexOf(chosen) !== -1;
      $(this).closest('tr').toggle(shown);
    });
    /* a legal entity's person fields are its contact person's */
    $('[data-label]').each(function () {
      var text = $(this).data('label-' + chosen) || $(this).data('label');
      $('label[for="' + this.id + '"]').contents().first().replaceWith(document.createTextNode(text + ' '));
    });
  }
  type.on('change', follow);
  follow();
});

/* The card's booking form: the price, the customer's discount and the total of the
   service chosen, before the order is saved (the server computes the same, in kopecks). */
$(function () {
  var form = $('.kartoteka-inline-order');
  if (!form.length) { return; }
  var prices = form.data('prices') || {};
  var ruled = parseFloat(form.data('discount')) || 0;
  var out = form.find('.order-figures');
  function discountNow() {  /* a discount typed by hand («12,5») wins over the rule's */
    var typed = String(form.find('#order-discount').val() || '').replace(/\s/g, '').replace(',', '.');
    var value = parseFloat(typed);
    return typed && !isNaN(value) ? value : ruled;
  }
  var money = new Intl.NumberFormat(document.documentElement.lang || 'ru', {style: 'currency', currency: 'RUB'});
  function show() {
    var price = parseFloat(prices[form.find('#order-catalog_item').val()]);
    var quantity = parseInt(form.find('#order-quantity').val(), 10) || 0;
    if (isNaN(price) || quantity < 1) { out.text(''); return; }
    /* in kopecks and hundredths of a per cent, rounded as app/orders.py rounds: the
       total is the price less the discount, half up (the discount is what is left);
       rounding the discount first showed 1 673,94 ₽ for an item booked at 1 673,95 ₽ */
    var gross = Math.round(price * quantity * 100);
    var hundredths = Math.round(discountNow() * 100);
    var off = gross - Math.round(gross * (10000 - hundredths) / 10000);
    out.text(' · ' + out.data('price') + ': ' + money.format(gross / 100) + ' · ' + out.data('discount-label') +
      ': ' + money.format(off / 100) + ' · ' + out.data('total') + ': ' + money.format((gross - off) / 100));
  }
  form.on('change keyup input', '#order-catalog_item, #order-quantity, #order-discount', show);
  show();
});

/* The session watch (app/admin/security.py keep_alive). The idle timeout ends a
   session nobody works in; typing in a form is working, so it keeps the session. A
   minute before the timeout the page says so. A page whose session ended keeps what
   was typed in it: after a new sign-in in another tab its form is sent with the new
   session's token (a form sent with an ended session's token is refused, and what
   was typed was lost). The time of the last contact with the server is shared by
   the tabs (localStorage holds only that time). */
function kartotekaSessionWatch(o) {
  var idle = o.idle * 1000, step = o.step * 1000, key = 'kartoteka-contact';
  var loaded = Date.now(), own = loaded, ended = false, asking = null, banner = null;
  function remember(time) {
    own = time;
    try { window.localStorage.setItem(key, String(time)); } catch (e) { /* private mode */ }
  }
  function contact() {
    var other = 0;
    try { other = parseInt(window.localStorage.getItem(key), 10) || 0; } catch (e) { /* private mode */ }
    return Math.max(own, other);
  }
  function hide() {
    if (banner) { banner.remove(); banner = null; }
  }
  function show(kind, text, action) {
    if (banner && banner.data('kind') === kind) { return; }
    hide();
    banner = $('<div role="alert" class="alert kartoteka-session"></div>')
      .addClass(kind === 'ended' ? 'alert-danger' : 'alert-warning')
      .data('kind', kind).append($('<span></span>').text(text + ' ')).append(action);
    $('body').append(banner);
  }
  function warn() {
    show('warning', o.warning, $('<button type="button" class="btn btn-default btn-sm"></button>')
      .text(o.stay).on('click', function () { ask(); }));
  }
  function end() {
    ended = true;
    show('ended', o.ended, $('<a target="_blank" rel="noopener" class="btn btn-primary btn-sm"></a>')
      .attr('href', o.login).text(o.sign_in));
  }
  function ask() {
    /* 'alive' (with the session's current token), 'ended' (the server sends the browser
       to the login page), or 'unknown' (an error, no network, a role without the right):
       only an ended session holds a form back, anything else is sent as before */
    if (asking) { return asking; }
    asking = window.fetch(o.alive, {
      credentials: 'same-origin', redirect: 'manual', cache: 'no-store', headers: {'Accept': 'application/json'}
    }).then(function (response) {
      if (response.type === 'opaqueredirect' || response.status === 401) { return 'ended'; }
      if (response.status !== 200) { return 'unknown'; }
      return response.json().then(function (data) {
        $('input[name=csrf_token]').val(data.csrf);
        return 'alive';
      });
    }).then(null, function () { return 'unknown'; }).then(function (state) {
      asking = null;
      if (state === 'ended') { end(); }
      if (state === 'alive') { ended = false; remember(Date.now()); hide(); }
      return state;
    });
    return asking;
  }
  remember(loaded);
  $(document).on('input change keydown', 'form', function () {
    if (Date.now() - contact() >= step) { ask(); }
  });
  window.setInterval(function () {
    if (ended) { return; }
    var left = contact() + idle - step - Date.now();  /* the server marks its clock every step */
    if (left <= 0) { end(); } else if (left <= Math.min(60000, idle / 4)) { warn(); } else { hide(); }
  }, Math.max(250, Math.min(5000, step / 4)));
  document.addEventListener('submit', function (event) {
    var form = event.target;
    /* form.method may be a box named «method» */
    if ((form.getAttribute('method') || '').toLowerCase() !== 'post' || form.kartotekaChecked) { return; }
    if (!ended && Date.now() - loaded < step) { return; }  /* a fresh page's token is current */
    event.preventDefault();
    event.stopPropagation();
    var submitter = event.submitter;
    ask().then(function (state) {
      if (state === 'ended') { return; }  /* kept on the page, with the notice */
      form.kartotekaChecked = true;
      if (form.requestSubmit) { form.requestSubmit(submitter || undefined); } else { form.submit(); }
    });
  }, true);
}

/* A form sent twice is saved once (app/admin/submissions.py): each form gets a token
   of its own when it is first sent, and a second send (a double click, Enter pressed
   again on a slow answer, the page brought back by «Назад») carries the same token. */
function kartotekaSubmissionToken() {
  var bytes = new Uint8Array(16);
  window.crypto.getRandomValues(bytes);
  return Array.prototype.map.call(bytes, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
}
function kartotekaTokenFor(form) {
  if (!form || (form.getAttribute('method') || '').toLowerCase() !== 'post') { return; }  // form.method may be a box named «method»
  if (!form.querySelector('input[name="_submission"]')) {
    var field = document.createElement('input');
    field.type = 'hidden';
    field.name = '_submission';
    field.value = kartotekaSubmissionToken();
    form.appendChild(field);
  }
}
document.addEventListener('submit', function (event) { kartotekaTokenFor(event.target); }, true);
// A form changed after it was sent (brought back by «Назад» and typed into, to save
// another record) is another form: it gets a new token when sent; sent unchanged, it
// keeps the old one and is not saved twice
function kartotekaFormChanged(event) {
  var form = event.target && event.target.form;
  var field = form && form.querySelector('input[name="_submission"]');
  if (field) { field.parentNode.removeChild(field); }
}
document.addEventListener('input', kartotekaFormChanged, true);
document.addEventListener('change', kartotekaFormChanged, true);
// FAB's row and bulk actions send their form by jQuery's trigger('submit'), which ends in
// form.submit(): no DOM event reaches the listener above, jQuery's own handlers run
if (window.jQuery) {
  jQuery(document).on('submit', 'form', function () { kartotekaTokenFor(this); });
}
